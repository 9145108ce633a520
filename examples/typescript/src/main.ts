// A tour of the Cockpit gateway from a typed GraphQL client: one endpoint of each type,
// listed page by page, one updated, one deleted; then a subscription (graphql-ws) sees an
// endpoint being created.
//   GATEWAY_URL=http://127.0.0.1:8080/graphql COCKPIT_API_KEY=kros_test_… npm start
import { print } from 'graphql';
import { GraphQLClient } from 'graphql-request';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import type { CreateEndpointInput, EndpointEventsSubscription, ListEndpointsQuery } from './gql/graphql.js';
import {
  CreateEndpoint,
  DeleteEndpoint,
  EndpointEvents,
  LatestEvent,
  ListEndpoints,
  RefetchNode,
  UpdateEndpoint,
} from './operations.js';

const url = process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080/graphql';
const apiKey = process.env.COCKPIT_API_KEY;
if (!apiKey) {
  console.error('Set COCKPIT_API_KEY to a kros_test_… key (cargo run -- key create --org … --mode test).');
  process.exit(2);
}
const client = new GraphQLClient(url, { headers: { authorization: `Bearer ${apiKey}` } });
const run = Date.now().toString(36);

const endpoints: CreateEndpointInput[] = [
  { name: `Events hook ${run}`, type: 'WEBHOOK', url: 'https://hooks.example.com/calls' },
  { name: `Vapi agent ${run}`, type: 'VAPI', providerConfig: { vapi: { assistantId: 'asst_example' } } },
  { name: `Retell agent ${run}`, type: 'RETELL', providerConfig: { retell: { agentId: 'agent_example' } } },
  {
    name: `ElevenLabs agent ${run}`,
    type: 'ELEVENLABS',
    providerConfig: { elevenLabs: { elevenlabsAgentId: 'el_example' } },
  },
  {
    name: `LiveKit agent ${run}`,
    type: 'LIVEKIT',
    providerConfig: { liveKit: { livekitSipTrunkId: 'ST_example', livekitSipUri: 'sip:example.sip.livekit.cloud' } },
  },
  {
    name: `Vogent agent ${run}`,
    type: 'VOGENT',
    providerConfig: {
      vogent: { vogentSipPrefix: 'example', vogentSipUsername: 'cockpit', vogentSipPassword: 'example-password' },
    },
  },
  {
    name: `Office PBX ${run}`,
    type: 'CUSTOM_SIP',
    url: 'sip:reception@pbx.example.com',
    providerConfig: { customSip: { sipUri: 'sip:reception@pbx.example.com', username: 'cockpit', password: 'pbx-password' } },
  },
];

// The generated types are as precise as the schema: a new Vapi endpoint's config without its
// assistant id doesn't compile (`npm run typecheck` fails if this line ever does).
// @ts-expect-error assistantId is required on create
const withoutAssistant: CreateEndpointInput = { name: 'x', type: 'VAPI', providerConfig: { vapi: {} } };
void withoutAssistant;

function fail(message: string): never {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

const created: { id: string; name: string }[] = [];
for (const input of endpoints) {
  const { createEndpoint } = await client.request(CreateEndpoint, { input });
  const endpoint = createEndpoint?.endpoint;
  if (!endpoint || createEndpoint.userErrors.length > 0) {
    fail(`create ${input.type}: ${JSON.stringify(createEndpoint?.userErrors)}`);
  }
  // The edge a Relay client appends to its cached list (`@appendEdge`): the same endpoint,
  // with its cursor in the list's ordering.
  if (createEndpoint.endpointEdge?.node.id !== endpoint.id || !createEndpoint.endpointEdge.cursor) {
    fail(`create ${input.type}: no edge for the new endpoint`);
  }
  created.push({ id: endpoint.id, name: endpoint.name });
  console.log(`created ${endpoint.type.padEnd(10)} ${endpoint.name.padEnd(28)} → ${endpoint.url}`);
}

// Page through everything, three at a time, with the connection's cursors.
const seen = new Set<string>();
let after: string | null = null;
let page = 0;
for (;;) {
  const result: ListEndpointsQuery = await client.request(ListEndpoints, { first: 3, after });
  const connection = result.endpoints;
  page += 1;
  for (const edge of connection.edges) {
    seen.add(edge.node.id);
  }
  console.log(`page ${page}: ${connection.edges.map((e) => e.node.name).join(', ')}`);
  if (!connection.pageInfo.hasNextPage) break;
  after = connection.pageInfo.endCursor ?? fail('a next page without a cursor');
}
for (const { id, name } of created) {
  if (!seen.has(id)) fail(`${name} is missing from the list`);
}

const [first, second] = created;
if (!first || !second) fail('nothing was created');
const { updateEndpoint } = await client.request(UpdateEndpoint, {
  input: { id: first.id, name: `${first.name} (paused)`, status: 'INACTIVE' },
});
if (!updateEndpoint?.endpoint || updateEndpoint.userErrors.length > 0) {
  fail(`update: ${JSON.stringify(updateEndpoint?.userErrors)}`);
}
console.log(`updated ${updateEndpoint.endpoint.name}: ${updateEndpoint.endpoint.status}`);

// The updated endpoint again, by its id alone, as Relay refetches it.
const { node } = await client.request(RefetchNode, { id: first.id });
if (node?.__typename !== 'Endpoint' || node.id !== first.id || node.status !== 'INACTIVE') {
  fail(`node: ${JSON.stringify(node)}`);
}
console.log(`refetched ${node.name} by its id`);

const { deleteEndpoint } = await client.request(DeleteEndpoint, { id: second.id });
if (deleteEndpoint?.deletedEndpointId !== second.id) {
  fail(`delete: ${JSON.stringify(deleteEndpoint?.userErrors)}`);
}
console.log(`deleted ${second.name}`);

// Live changes over WebSocket (graphql-transport-ws), authenticated in connection_init. It
// subscribes after the newest event there is, so the endpoint created next arrives however
// quickly it commits: a subscription with `after` first sends what it missed.
const { events } = await client.request(LatestEvent);
const since = events.nodes[0]?.id ?? '0';
const ws = createClient({
  url: url.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${apiKey}` },
});
const subscription = ws.iterate<EndpointEventsSubscription>({
  query: print(EndpointEvents),
  variables: { after: since },
});
const watched = `Watched hook ${run}`;
const { createEndpoint: made } = await client.request(CreateEndpoint, {
  input: { name: watched, type: 'WEBHOOK', url: 'https://hooks.example.com/watched' },
});
if (!made?.endpoint) fail(`create: ${JSON.stringify(made?.userErrors)}`);
const timeout = setTimeout(() => fail('no event within 10 s'), 10_000);
let received: EndpointEventsSubscription['endpointEvents'] | undefined;
for await (const result of subscription) {
  if (result.errors) fail(`subscription: ${JSON.stringify(result.errors)}`);
  const event = result.data?.endpointEvents;
  if (event?.type === 'ENDPOINT_CREATED' && event.endpointId === made.endpoint.id) {
    received = event;
    break;
  }
}
clearTimeout(timeout);
await ws.dispose();
if (!received?.endpoint) fail('the subscription ended without the event');
console.log(
  `event ${received.id}: ${received.type} ${received.endpoint.name} by ${received.event?.actor.kind} ${received.event?.actor.apiKeyPrefix}`,
);
console.log(
  `done: ${created.length + 1} created, ${seen.size} listed over ${page} pages, 1 updated, 1 deleted, 1 event received`,
);
