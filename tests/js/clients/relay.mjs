// Relay (relay-runtime, documents compiled by relay-compiler from relay/RelayMatrix.js) against
// a live gateway: a @connection paged with `after`, refetch by node, create with @prependEdge,
// update with expectedUpdatedAt, delete with @deleteRecord, the provider-config union, user
// errors, an Idempotency-Key from the network's fetch (cacheConfig.metadata), and
// requestSubscription over graphql-ws and over graphql-sse (Network.create's subscribe).
// Then the persisted documents (relay/persisted/, `persistConfig`) sent by id alone to a
// gateway that runs only the manifest relay-compiler wrote (TRUSTED_GATEWAY_URL).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import RelayRuntime from 'relay-runtime';
import WebSocket from 'ws';

import CreateMutation from '../relay/__generated__/RelayMatrixCreateMutation.graphql.js';
import DeleteMutation from '../relay/__generated__/RelayMatrixDeleteMutation.graphql.js';
import EventsSubscription from '../relay/__generated__/RelayMatrixEventsSubscription.graphql.js';
import ListQuery from '../relay/__generated__/RelayMatrixListQuery.graphql.js';
import NodeQuery from '../relay/__generated__/RelayMatrixNodeQuery.graphql.js';
import UpdateMutation from '../relay/__generated__/RelayMatrixUpdateMutation.graphql.js';
import PersistedCreateMutation from '../relay/persisted/__generated__/RelayPersistedCreateMutation.graphql.js';
import PersistedEventsSubscription from '../relay/persisted/__generated__/RelayPersistedEventsSubscription.graphql.js';
import PersistedNodeQuery from '../relay/persisted/__generated__/RelayPersistedNodeQuery.graphql.js';
import { authorization, createElsewhere, latestEventCursor, scenarios, tagFor, trustedUrl, url, within, wsUrl } from './common.mjs';

const {
  ConnectionHandler,
  Environment,
  Network,
  Observable,
  RecordSource,
  ROOT_ID,
  Store,
  commitMutation,
  createOperationDescriptor,
  fetchQuery,
  requestSubscription,
} = RelayRuntime;
if (!trustedUrl) throw new Error('set TRUSTED_GATEWAY_URL: a gateway running relay/persisted/__generated__/trusted-documents.json in enforce mode');

// Every HTTP exchange, to check what went over the wire (the idempotent replay, ids alone),
// and the subscriptions each transport carried.
const exchanges = [];
const subscriptionsOver = { ws: 0, sse: 0 };

/**
 * Relay's network for a gateway: documents go as text, or by `documentId` when relay-compiler
 * persisted them (`params.id`, no text); a mutation's `cacheConfig.metadata.idempotencyKey`
 * becomes its Idempotency-Key; subscriptions over graphql-ws, or over graphql-sse when the
 * subscription's `cacheConfig.metadata.transport` says 'sse'.
 */
function network(gatewayUrl) {
  const document = (params) => (params.id ? { documentId: params.id } : { query: params.text });
  const ws = createWsClient({ url: gatewayUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization } });
  const sse = createSseClient({ url: gatewayUrl, headers: { authorization } });
  const fetchFn = async (params, variables, cacheConfig) => {
    const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization };
    const idempotencyKey = cacheConfig?.metadata?.idempotencyKey;
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    const body = { ...document(params), operationName: params.name, variables };
    const response = await fetch(gatewayUrl, { method: 'POST', headers, body: JSON.stringify(body) });
    const text = await response.text();
    exchanges.push({ body, status: response.status, headers: response.headers, text });
    return JSON.parse(text);
  };
  // graphql-ws insists on a `query` string: an empty one goes with the `documentId`.
  const subscribeFn = (params, variables, cacheConfig) =>
    Observable.create((sink) => {
      const request = { query: '', ...document(params), operationName: params.name, variables };
      const transport = cacheConfig?.metadata?.transport === 'sse' ? 'sse' : 'ws';
      subscriptionsOver[transport] += 1;
      return (transport === 'sse' ? sse : ws).subscribe(request, sink);
    });
  return { network: Network.create(fetchFn, subscribeFn), close: () => Promise.all([ws.dispose(), sse.dispose()]) };
}

const main = network(url);
const environment = new Environment({ network: main.network, store: new Store(new RecordSource()) });

const tag = tagFor('relay');

const filter = { search: tag };
const listVariables = { first: 2, after: null, filter };
const listOperation = createOperationDescriptor(ListQuery, listVariables);
environment.retain(listOperation);
const connectionId = ConnectionHandler.getConnectionID(ROOT_ID, 'RelayMatrix_endpoints', { filter });
const cachedIds = () => environment.lookup(listOperation.fragment).data.endpoints.edges.filter((e) => e?.node).map((e) => e.node.id);

const mutate = (mutation, variables, cacheConfig, env = environment) =>
  new Promise((resolve, reject) => {
    commitMutation(env, {
      mutation,
      variables,
      cacheConfig,
      onCompleted: (response, errors) => (errors?.length ? reject(new Error(JSON.stringify(errors))) : resolve(response)),
      onError: reject,
    });
  });
const vapi = (name, assistantId) => ({ name, type: 'VAPI', providerConfig: { vapi: { assistantId } } });
// Until the list is fetched there is no connection in the store to prepend to.
const create = async (input, connections = [connectionId]) => {
  const response = await mutate(CreateMutation, { input, connections });
  assert.deepEqual(response.createEndpoint.userErrors, []);
  return response.createEndpoint.endpointEdge.node;
};

const created = [];
const record = (env, id) => env.getStore().getSource().get(id);

/** Subscribes with requestSubscription; resolves with the first ENDPOINT_CREATED delivery of `name`. */
function createdEvent(env, subscription, variables, transport, name) {
  let disposable;
  const received = new Promise((resolve, reject) => {
    disposable = requestSubscription(env, {
      subscription,
      variables,
      cacheConfig: { metadata: { transport } },
      onNext: (response) => {
        if (response?.endpointEvents.type === 'ENDPOINT_CREATED' && response.endpointEvents.endpoint?.name === name) {
          resolve(response.endpointEvents);
        }
      },
      onError: reject,
    });
  });
  return within(10_000, `the ENDPOINT_CREATED event of ${name} over ${transport}`, received).finally(() => disposable.dispose());
}

// Over each transport: an endpoint created outside Relay arrives, and its record enters the store.
const subscribes = (transport) => async () => {
  const opened = subscriptionsOver[transport];
  const after = await latestEventCursor();
  const name = `${tag} via ${transport}`;
  const event = createdEvent(environment, EventsSubscription, { after, filter: { types: ['ENDPOINT_CREATED'] } }, transport, name);
  const endpoint = await createElsewhere(name);
  assert.equal(record(environment, endpoint.id), undefined);
  const delivered = await event;
  assert.equal(delivered.endpointId, endpoint.id);
  assert.ok(delivered.cursor);
  assert.equal(record(environment, endpoint.id).name, name);
  assert.equal(record(environment, delivered.id).__typename, 'EndpointEvent');
  assert.equal(subscriptionsOver[transport], opened + 1);
};

await scenarios('Relay', [
  [
    'pages through a @connection with after: the pages merge into one connection',
    async () => {
      for (let i = 0; i < 5; i += 1) created.push(await create(vapi(`${tag} ${i}`, `asst_${i}`), []));
      let data = await fetchQuery(environment, ListQuery, listVariables).toPromise();
      assert.equal(data.endpoints.totalCount, 5);
      assert.equal(data.endpoints.edges.length, 2);
      for (let pages = 1; data.endpoints.pageInfo.hasNextPage; pages += 1) {
        assert.ok(pages < 3, 'five endpoints are three pages of two');
        data = await fetchQuery(environment, ListQuery, { ...listVariables, after: data.endpoints.pageInfo.endCursor }).toPromise();
      }
      assert.deepEqual(cachedIds(), created.map((e) => e.id).reverse());
    },
  ],
  [
    'createEndpoint with @prependEdge puts the new endpoint first in the connection; the union reads RetellConfig',
    async () => {
      const endpoint = await create({ name: `${tag} retell`, type: 'RETELL', providerConfig: { retell: { agentId: 'agent_r' } } });
      assert.equal(endpoint.providerConfig.__typename, 'RetellConfig');
      assert.equal(endpoint.providerConfig.agentId, 'agent_r');
      assert.equal(cachedIds()[0], endpoint.id);
      assert.equal(cachedIds().length, 6);
      created.push(endpoint);
    },
  ],
  [
    'refetches one endpoint by node(id), with its VapiConfig',
    async () => {
      const data = await fetchQuery(environment, NodeQuery, { id: created[0].id }, { fetchPolicy: 'network-only' }).toPromise();
      assert.equal(data.node.__typename, 'Endpoint');
      assert.equal(data.node.id, created[0].id);
      assert.equal(data.node.name, `${tag} 0`);
      assert.deepEqual(data.node.providerConfig, { __typename: 'VapiConfig', assistantId: 'asst_0' });
    },
  ],
  [
    'updateEndpoint with expectedUpdatedAt updates the record in the store; a stale one answers STALE and currentEndpoint',
    async () => {
      const target = created[1];
      const name = `${tag} renamed`;
      const response = await mutate(UpdateMutation, { input: { id: target.uuid, name, expectedUpdatedAt: target.updatedAt } });
      assert.deepEqual(response.updateEndpoint.userErrors, []);
      assert.equal(response.updateEndpoint.endpoint.name, name);
      assert.ok(response.updateEndpoint.endpoint.updatedAt > target.updatedAt);
      assert.equal(record(environment, target.id).name, name);
      const stale = await mutate(UpdateMutation, { input: { id: target.uuid, name: `${tag} lost`, expectedUpdatedAt: target.updatedAt } });
      assert.equal(stale.updateEndpoint.endpoint, null);
      assert.deepEqual(stale.updateEndpoint.userErrors.map((e) => e.code), ['STALE']);
      assert.equal(stale.updateEndpoint.currentEndpoint.name, name);
      assert.equal(record(environment, target.id).name, name);
    },
  ],
  [
    'a refused mutation answers userErrors with the field and code, and adds no edge',
    async () => {
      const response = await mutate(CreateMutation, { input: vapi('   ', 'asst_blank'), connections: [connectionId] });
      assert.equal(response.createEndpoint.endpointEdge, null);
      assert.deepEqual(response.createEndpoint.userErrors, [{ field: ['input', 'name'], code: 'BLANK' }]);
      assert.equal(cachedIds().length, 6);
    },
  ],
  [
    'an Idempotency-Key from cacheConfig.metadata: the retry is replayed (Idempotent-Replayed: true, the same response) and creates nothing',
    async () => {
      const cacheConfig = { metadata: { idempotencyKey: randomUUID() } };
      const input = vapi(`${tag} idempotent`, 'asst_idem');
      const first = await mutate(CreateMutation, { input, connections: [] }, cacheConfig);
      const firstExchange = exchanges.at(-1);
      const retry = await mutate(CreateMutation, { input, connections: [] }, cacheConfig);
      const retryExchange = exchanges.at(-1);
      assert.equal(firstExchange.headers.get('idempotent-replayed'), null);
      assert.equal(retryExchange.headers.get('idempotent-replayed'), 'true');
      assert.equal(retryExchange.text, firstExchange.text);
      assert.equal(retry.createEndpoint.endpointEdge.node.id, first.createEndpoint.endpointEdge.node.id);
      const data = await fetchQuery(environment, ListQuery, { first: 2, after: null, filter: { search: `${tag} idempotent` } }).toPromise();
      assert.equal(data.endpoints.totalCount, 1);
    },
  ],
  ['requestSubscription over graphql-ws: an endpoint created elsewhere arrives and enters the store', subscribes('ws')],
  ['requestSubscription over graphql-sse: an endpoint created elsewhere arrives and enters the store', subscribes('sse')],
  [
    'persisted documents (persistConfig) by documentId alone, on a gateway that runs only its trusted documents: a query, a keyed mutation, a subscription',
    async () => {
      const trusted = network(trustedUrl);
      const env = new Environment({ network: trusted.network, store: new Store(new RecordSource()) });
      try {
        // The gateway refuses any text: what runs below ran from the manifest.
        const adHoc = await fetch(trustedUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ query: '{ endpoints(first: 1) { totalCount } }' }),
        });
        assert.equal(adHoc.status, 400);
        assert.equal((await adHoc.json()).errors[0].extensions.code, 'PERSISTED_QUERY_NOT_ALLOWED');

        const before = exchanges.length;
        const data = await fetchQuery(env, PersistedNodeQuery, { id: created[0].id }).toPromise();
        assert.equal(data.node.id, created[0].id);
        assert.equal(data.node.name, `${tag} 0`);

        const after = await latestEventCursor();
        const name = `${tag} persisted`;
        const event = createdEvent(env, PersistedEventsSubscription, { after, filter: { types: ['ENDPOINT_CREATED'] } }, 'ws', name);
        const cacheConfig = { metadata: { idempotencyKey: randomUUID() } };
        const first = await mutate(PersistedCreateMutation, { input: vapi(name, 'asst_persisted') }, cacheConfig, env);
        const retry = await mutate(PersistedCreateMutation, { input: vapi(name, 'asst_persisted') }, cacheConfig, env);
        assert.deepEqual(first.createEndpoint.userErrors, []);
        assert.equal(retry.createEndpoint.endpoint.id, first.createEndpoint.endpoint.id);
        assert.equal(exchanges.at(-1).headers.get('idempotent-replayed'), 'true');
        assert.equal((await event).endpoint.id, first.createEndpoint.endpoint.id);

        // Each went by its id alone: the sha256 of the text relay-compiler wrote.
        const sent = exchanges.slice(before).map(({ body }) => body);
        assert.equal(sent.length, 3);
        assert.ok(sent.every((body) => /^[0-9a-f]{64}$/.test(body.documentId) && !('query' in body)));
        assert.equal(sent[0].documentId, PersistedNodeQuery.params.id);
      } finally {
        await trusted.close();
      }
    },
  ],
  [
    'deleteEndpoint with @deleteRecord removes the endpoint from the store and the connection',
    async () => {
      const victim = created.at(-1);
      const response = await mutate(DeleteMutation, { input: { id: victim.uuid, expectedUpdatedAt: victim.updatedAt } });
      assert.equal(response.deleteEndpoint.deletedEndpointId, victim.id);
      assert.equal(environment.getStore().getSource().get(victim.id), null);
      assert.ok(!cachedIds().includes(victim.id));
      assert.equal(cachedIds().length, 5);
    },
  ],
]);

await main.close();
