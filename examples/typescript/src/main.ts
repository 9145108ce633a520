// A tour of the Cockpit gateway from a typed GraphQL client: one endpoint of each type,
// created with an Idempotency-Key (and one retried), listed page by page, one updated against
// the version read, one deleted; then a subscription (graphql-ws) sees an endpoint being
// created, and a live query (`@live`) keeps the list of endpoints up to date.
//   GATEWAY_URL=http://127.0.0.1:8080/graphql COCKPIT_API_KEY=kros_test_… npm start
// With TRUSTED_DOCUMENTS=1 every operation goes by its id in src/gql/persisted-documents.json
// (`documentId`, or APQ's hash over WebSocket), for a gateway in trusted-documents `enforce`
// mode.
import { randomUUID } from 'node:crypto';

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { ClientError, GraphQLClient, type Variables } from 'graphql-request';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import type {
  CreateEndpointInput,
  EndpointEventsSubscription,
  ListEndpointsQuery,
  LiveEndpointsQuery,
} from './gql/graphql.js';
import {
  CreateEndpoint,
  DeleteEndpoint,
  EndpointEvents,
  LatestEvent,
  ListEndpoints,
  LiveEndpoints,
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
const trusted = process.env.TRUSTED_DOCUMENTS === '1';

/** A generated document: its text, and its id in the trusted documents manifest (`sha256:…`). */
type Document<R, V> = TypedDocumentNode<R, V> & { __meta__?: { hash?: string } };

function hashOf(document: object): string {
  const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  if (!hash) fail('a document without its hash: run `npm run codegen`');
  return hash;
}

/**
 * Runs one operation. `headers` go with it (an Idempotency-Key, say). With TRUSTED_DOCUMENTS=1
 * only the document's id is sent, as the GraphQL-over-HTTP persisted documents draft has it.
 */
async function request<R, V extends Variables>(
  document: Document<R, V>,
  variables: V,
  headers: Record<string, string> = {},
): Promise<R> {
  if (!trusted) {
    return client.request<R, V>({ document, variables, requestHeaders: headers } as never);
  }
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: `Bearer ${apiKey}`,
      ...headers,
    },
    body: JSON.stringify({ documentId: hashOf(document), variables }),
  });
  const body = (await response.json()) as { data?: R; errors?: unknown[] };
  if (body.errors?.length || body.data === undefined) {
    fail(`${response.status}: ${JSON.stringify(body.errors)}`);
  }
  return body.data;
}

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

const created: { id: string; name: string; updatedAt: string }[] = [];
for (const input of endpoints) {
  // One key per endpoint to create, kept for its retries (Stripe's semantics: a retry with the
  // key gets the first answer and creates nothing).
  const idempotencyKey = randomUUID();
  const { createEndpoint } = await request(CreateEndpoint, { input }, { 'Idempotency-Key': idempotencyKey });
  const endpoint = createEndpoint?.endpoint;
  if (!endpoint || createEndpoint.userErrors.length > 0) {
    fail(`create ${input.type}: ${JSON.stringify(createEndpoint?.userErrors)}`);
  }
  // The edge a Relay client appends to its cached list (`@appendEdge`): the same endpoint,
  // with its cursor in the list's ordering.
  if (createEndpoint.endpointEdge?.node.id !== endpoint.id || !createEndpoint.endpointEdge.cursor) {
    fail(`create ${input.type}: no edge for the new endpoint`);
  }
  created.push({ id: endpoint.id, name: endpoint.name, updatedAt: endpoint.updatedAt });
  console.log(`created ${endpoint.type.padEnd(10)} ${endpoint.name.padEnd(28)} → ${endpoint.url}`);
  if (created.length === 1) {
    // A retry, as a client whose connection dropped before the answer would send it.
    const { createEndpoint: retried } = await request(CreateEndpoint, { input }, { 'Idempotency-Key': idempotencyKey });
    if (retried?.endpoint?.id !== endpoint.id) fail('the retried create made another endpoint');
    console.log(`retried the create with its Idempotency-Key: the same endpoint, ${endpoint.id}`);
  }
}

// Page through everything, three at a time, with the connection's cursors.
const seen = new Set<string>();
let after: string | null = null;
let page = 0;
for (;;) {
  const result: ListEndpointsQuery = await request(ListEndpoints, { first: 3, after });
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
// Updated against the version read: had someone changed it since, the update would come back
// with a STALE user error and the endpoint as it is now.
const { updateEndpoint } = await request(UpdateEndpoint, {
  input: { id: first.id, name: `${first.name} (paused)`, status: 'INACTIVE', expectedUpdatedAt: first.updatedAt },
});
if (!updateEndpoint?.endpoint || updateEndpoint.userErrors.length > 0) {
  fail(`update: ${JSON.stringify(updateEndpoint?.userErrors)}`);
}
console.log(`updated ${updateEndpoint.endpoint.name}: ${updateEndpoint.endpoint.status}`);

// The updated endpoint again, by its id alone, as Relay refetches it.
const { updateEndpoint: stale } = await request(UpdateEndpoint, {
  input: { id: first.id, name: 'Overwritten', expectedUpdatedAt: first.updatedAt },
});
if (stale?.userErrors[0]?.code !== 'STALE' || stale.currentEndpoint?.name !== updateEndpoint.endpoint.name) {
  fail(`a stale update went through: ${JSON.stringify(stale)}`);
}
console.log(`a second update of the same version was refused: ${stale.userErrors[0].code}`);

const { node } = await request(RefetchNode, { id: first.id });
if (node?.__typename !== 'Endpoint' || node.id !== first.id || node.status !== 'INACTIVE') {
  fail(`node: ${JSON.stringify(node)}`);
}
console.log(`refetched ${node.name} by its id`);

const { deleteEndpoint } = await request(DeleteEndpoint, { id: second.id }, { 'Idempotency-Key': randomUUID() });
if (deleteEndpoint?.deletedEndpointId !== second.id) {
  fail(`delete: ${JSON.stringify(deleteEndpoint?.userErrors)}`);
}
console.log(`deleted ${second.name}`);

// Live changes over WebSocket (graphql-transport-ws), authenticated in connection_init. It
// subscribes after the newest event there is (its cursor: the changes above made some), so
// the endpoint created next arrives however quickly it commits: a subscription with `after`
// first sends what it missed.
const { events } = await request(LatestEvent, {});
const since = events.edges[0]?.cursor;
if (!since) fail('the audit log shows none of the changes made above');
const ws = createClient({
  url: url.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${apiKey}` },
});
// A trusted client names the subscription by its hash (APQ's extension; graphql-ws sends a
// `query`, empty here).
const subscription = ws.iterate<EndpointEventsSubscription>(
  trusted
    ? {
        query: '',
        variables: { after: since },
        extensions: { persistedQuery: { version: 1, sha256Hash: hashOf(EndpointEvents).replace(/^sha256:/, '') } },
      }
    : { query: print(EndpointEvents), variables: { after: since } },
);
const watched = `Watched hook ${run}`;
const { createEndpoint: made } = await request(
  CreateEndpoint,
  { input: { name: watched, type: 'WEBHOOK', url: 'https://hooks.example.com/watched' } },
  { 'Idempotency-Key': randomUUID() },
);
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
if (!received?.endpoint) fail('the subscription ended without the event');
console.log(
  `event ${received.cursor}: ${received.type} ${received.endpoint.name} by ${received.event?.actor.kind} ${received.event?.actor.apiKeyPrefix}`,
);

// A live list of endpoints: the first result is the list as it is, and each change of an
// endpoint sends the whole list again (`extensions.revision` counts the results).
const liveList = ws.iterate<LiveEndpointsQuery>(
  trusted
    ? {
        query: '',
        variables: {},
        extensions: { persistedQuery: { version: 1, sha256Hash: hashOf(LiveEndpoints).replace(/^sha256:/, '') } },
      }
    : { query: print(LiveEndpoints), variables: {} },
);
const listed = `Listed hook ${run}`;
const listTimeout = setTimeout(() => fail('the live list did not show the new endpoint within 10 s'), 10_000);
let revisions = 0;
let shown: LiveEndpointsQuery['endpoints'] | undefined;
for await (const result of liveList) {
  if (result.errors) fail(`live query: ${JSON.stringify(result.errors)}`);
  revisions += 1;
  const list = result.data?.endpoints;
  if (revisions === 1) {
    console.log(`live list: ${list?.totalCount} endpoints; adding one`);
    const { createEndpoint: added } = await request(
      CreateEndpoint,
      { input: { name: listed, type: 'WEBHOOK', url: 'https://hooks.example.com/listed' } },
      { 'Idempotency-Key': randomUUID() },
    );
    if (!added?.endpoint) fail(`create: ${JSON.stringify(added?.userErrors)}`);
  } else if (list?.nodes.some((node) => node.name === listed)) {
    shown = list;
    break;
  }
}
clearTimeout(listTimeout);
await ws.dispose();
if (!shown) fail('the live query ended without the new endpoint');
console.log(`live list, result ${revisions}: ${shown.totalCount} endpoints, ${listed} among them`);
console.log(
  `done: ${created.length + 2} created, ${seen.size} listed over ${page} pages, 1 updated, 1 deleted, 1 event received, a live list kept${trusted ? ', every operation by its trusted document id' : ''}`,
);

// Against a gateway that runs trusted documents only, an operation that isn't one is refused.
if (trusted) {
  try {
    await client.request('{ endpoints(first: 1) { totalCount } }');
    fail('an ad hoc query ran on a gateway that enforces trusted documents');
  } catch (error) {
    const code = (error as ClientError).response?.errors?.[0]?.extensions?.code;
    if (code !== 'PERSISTED_QUERY_NOT_ALLOWED') throw error;
    console.log(`an ad hoc query was refused: ${code}`);
  }
}
