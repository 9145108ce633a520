// urql 6 with Graphcache against a live gateway: relay pagination, node refetch,
// create/update/delete with cache updates, the provider-config union, user errors, an
// Idempotency-Key retry, urql's default Accept (which names event streams and multipart too)
// answered as JSON, persisted queries with persistedExchange (APQ, by GET), and
// subscriptions over graphql-sse's distinct connections and over graphql-ws, and a live query
// (`@live`) over graphql-ws.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { Client, fetchExchange, gql, subscriptionExchange } from '@urql/core';
import { cacheExchange } from '@urql/exchange-graphcache';
import { relayPagination } from '@urql/exchange-graphcache/extras';
import { persistedExchange } from '@urql/exchange-persisted';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

import { authorization, createElsewhere, introspection, latestEventCursor, scenarios, tagFor, url, within, wsUrl } from './common.mjs';

const tag = tagFor('urql');

// Graphcache warns (and may drop data) about what it can't key or match; any warning fails.
const warnings = [];
const warn = console.warn;
console.warn = (...args) => {
  warnings.push(args.join(' '));
  warn(...args);
};

// Every HTTP exchange, to check the request's Accept, how it named its document (persisted
// queries go by GET) and the response's Content-Type.
const exchanges = [];
const recordingFetch = async (input, init) => {
  const response = await fetch(input, init);
  const params = init.method === 'GET' ? Object.fromEntries(new URL(input).searchParams) : JSON.parse(init.body);
  const extensions = typeof params.extensions === 'string' ? JSON.parse(params.extensions) : params.extensions;
  exchanges.push({
    method: init.method,
    query: params.query,
    hash: extensions?.persistedQuery?.sha256Hash,
    accept: new Headers(init.headers).get('accept'),
    contentType: response.headers.get('content-type'),
    headers: response.headers,
  });
  return response;
};

// Subscriptions go over graphql-sse, or over graphql-ws when the operation's context says so.
const sse = createSseClient({ url, headers: { authorization } });
const ws = createWsClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization } });
let wsConnected = false;
ws.on('connected', () => {
  wsConnected = true;
});
const embedded = () => null;
// Whether a document's operation is marked `@live`.
const isLive = (document) =>
  document.definitions.some(
    (definition) => definition.kind === 'OperationDefinition' && definition.directives?.some((d) => d.name.value === 'live'),
  );
const client = new Client({
  url,
  fetch: recordingFetch,
  fetchOptions: () => ({ headers: { authorization } }),
  exchanges: [
    cacheExchange({
      schema: introspection,
      // The provider configs have no id: they live inside their endpoint. (Connections, edges,
      // PageInfo, payloads and UserError need nothing: Graphcache embeds those itself.)
      keys: {
        VapiConfig: embedded,
        RetellConfig: embedded,
        ElevenLabsConfig: embedded,
        LiveKitConfig: embedded,
        VogentConfig: embedded,
        CustomSipConfig: embedded,
      },
      resolvers: { Query: { endpoints: relayPagination() } },
      updates: {
        Mutation: {
          deleteEndpoint(result, _args, cache) {
            const id = result.deleteEndpoint?.deletedEndpointId;
            if (!id) return;
            // Drop its edge from every cached page, then the endpoint itself.
            const deleted = cache.keyOfEntity({ __typename: 'Endpoint', id });
            for (const field of cache.inspectFields('Query').filter((f) => f.fieldName === 'endpoints')) {
              const connection = cache.resolve('Query', field.fieldKey);
              const edges = cache.resolve(connection, 'edges') ?? [];
              cache.link(connection, 'edges', edges.filter((edge) => cache.resolve(edge, 'node') !== deleted));
            }
            cache.invalidate(deleted);
          },
        },
      },
    }),
    // Live queries (`query … @live`) stream over graphql-ws, as subscriptions do; every other
    // query goes on to the exchanges below.
    subscriptionExchange({
      isSubscriptionOperation: (operation) => operation.kind === 'query' && isLive(operation.query),
      forwardSubscription: (request) => ({
        subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
      }),
    }),
    persistedExchange(),
    fetchExchange,
    subscriptionExchange({
      forwardSubscription: (request, operation) => ({
        subscribe: (sink) => {
          const transport = operation.context.transport === 'ws' ? ws : sse;
          return { unsubscribe: transport.subscribe({ ...request, query: request.query ?? '' }, sink) };
        },
      }),
    }),
  ],
});

const ENDPOINT = gql`
  fragment UrqlEndpoint on Endpoint {
    id
    uuid
    name
    type
    url
    updatedAt
    providerConfig {
      __typename
      ... on VapiConfig {
        assistantId
        credentialId
      }
      ... on RetellConfig {
        agentId
      }
    }
  }
`;
const LIST = gql`
  query UrqlList($first: Int!, $after: String, $filter: EndpointFilter) {
    endpoints(first: $first, after: $after, filter: $filter) {
      totalCount
      edges {
        cursor
        node {
          ...UrqlEndpoint
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
  ${ENDPOINT}
`;
const NODE = gql`
  query UrqlNode($id: ID!) {
    node(id: $id) {
      id
      ...UrqlEndpoint
    }
  }
  ${ENDPOINT}
`;
const CREATE = gql`
  mutation UrqlCreate($input: CreateEndpointInput!) {
    createEndpoint(input: $input) {
      endpoint {
        ...UrqlEndpoint
      }
      endpointEdge {
        cursor
        node {
          id
        }
      }
      userErrors {
        field
        code
        message
      }
    }
  }
  ${ENDPOINT}
`;
const UPDATE = gql`
  mutation UrqlUpdate($input: UpdateEndpointInput!) {
    updateEndpoint(input: $input) {
      endpoint {
        ...UrqlEndpoint
      }
      currentEndpoint {
        ...UrqlEndpoint
      }
      userErrors {
        field
        code
      }
    }
  }
  ${ENDPOINT}
`;
const DELETE = gql`
  mutation UrqlDelete($input: DeleteEndpointInput!) {
    deleteEndpoint(input: $input) {
      deletedEndpointId
      userErrors {
        code
      }
    }
  }
`;
const EVENTS = gql`
  subscription UrqlEvents($after: String, $filter: EndpointEventFilter) {
    endpointEvents(after: $after, filter: $filter) {
      id
      cursor
      type
      endpointId
      endpoint {
        id
        name
      }
    }
  }
`;

const filter = { search: tag };
const vapi = (name, assistantId) => ({ name, type: 'VAPI', providerConfig: { vapi: { assistantId } } });
const run = async (source) => {
  const result = await source.toPromise();
  if (result.error) throw result.error;
  return result.data;
};
const create = async (input, context) => {
  const data = await run(client.mutation(CREATE, { input }, context));
  assert.deepEqual(data.createEndpoint.userErrors, []);
  return data.createEndpoint;
};
const cachedList = () => run(client.query(LIST, { first: 2, filter }, { requestPolicy: 'cache-only' }));

const created = [];
let vapiEndpoint;

await scenarios('urql', [
  [
    'createEndpoint answers the endpoint and its edge, with the VapiConfig of the union',
    async () => {
      for (let i = 0; i < 5; i += 1) created.push((await create(vapi(`${tag} ${i}`, `asst_${i}`))).endpoint);
      const payload = await create({ name: `${tag} retell`, type: 'RETELL', providerConfig: { retell: { agentId: 'agent_r' } } });
      assert.deepEqual(payload.endpoint.providerConfig, { __typename: 'RetellConfig', agentId: 'agent_r' });
      assert.equal(payload.endpointEdge.node.id, payload.endpoint.id);
      assert.ok(payload.endpointEdge.cursor);
      created.push(payload.endpoint);
      vapiEndpoint = created[0];
      assert.deepEqual(vapiEndpoint.providerConfig, { __typename: 'VapiConfig', assistantId: 'asst_0', credentialId: null });
    },
  ],
  [
    "a query with urql's default Accept (JSON, event stream, multipart) is answered as JSON",
    async () => {
      await run(client.query(LIST, { first: 2, filter }, { requestPolicy: 'network-only' }));
      const { accept, contentType } = exchanges.at(-1);
      assert.match(accept, /text\/event-stream/);
      assert.match(accept, /multipart\/mixed/);
      assert.match(contentType, /^application\/(graphql-response\+)?json/);
    },
  ],
  [
    'pages through endpoints with after, merged by relayPagination',
    async () => {
      let data = await run(client.query(LIST, { first: 2, filter }, { requestPolicy: 'network-only' }));
      assert.equal(data.endpoints.totalCount, 6);
      for (let pages = 1; data.endpoints.pageInfo.hasNextPage; pages += 1) {
        assert.ok(pages < 3, 'six endpoints are three pages of two');
        data = await run(client.query(LIST, { first: 2, after: data.endpoints.pageInfo.endCursor, filter }));
      }
      // The cached first page now holds every page, newest first, none twice.
      const merged = await cachedList();
      assert.deepEqual(
        merged.endpoints.edges.map((e) => e.node.id),
        created.map((e) => e.id).reverse(),
      );
    },
  ],
  [
    'refetches one endpoint by node(id)',
    async () => {
      const data = await run(client.query(NODE, { id: vapiEndpoint.id }, { requestPolicy: 'network-only' }));
      assert.equal(data.node.id, vapiEndpoint.id);
      assert.equal(data.node.type, 'VAPI');
      assert.equal(data.node.name, vapiEndpoint.name);
      assert.equal(data.node.providerConfig.assistantId, 'asst_0');
    },
  ],
  [
    'a refused mutation answers userErrors with the field and code',
    async () => {
      const data = await run(client.mutation(CREATE, { input: vapi('   ', 'asst_blank') }));
      assert.equal(data.createEndpoint.endpoint, null);
      assert.deepEqual(
        data.createEndpoint.userErrors.map(({ field, code }) => ({ field, code })),
        [{ field: ['input', 'name'], code: 'BLANK' }],
      );
    },
  ],
  [
    'updateEndpoint with expectedUpdatedAt writes, a stale one answers STALE; the subscription over graphql-sse receives the update',
    async () => {
      const after = await latestEventCursor();
      let subscription;
      const received = new Promise((resolve, reject) => {
        subscription = client
          .subscription(EVENTS, { after, filter: { endpointIds: [vapiEndpoint.uuid] } })
          .subscribe(({ data, error }) => {
            if (error) reject(error);
            else if (data?.endpointEvents.type === 'ENDPOINT_UPDATED') resolve(data.endpointEvents);
          });
      });
      const name = `${tag} renamed`;
      const data = await run(
        client.mutation(UPDATE, { input: { id: vapiEndpoint.uuid, name, expectedUpdatedAt: vapiEndpoint.updatedAt } }),
      );
      assert.deepEqual(data.updateEndpoint.userErrors, []);
      assert.equal(data.updateEndpoint.endpoint.name, name);
      // The normalized endpoint in the cached list follows the mutation.
      assert.equal((await cachedList()).endpoints.edges.find((e) => e.node.id === vapiEndpoint.id).node.name, name);

      const stale = await run(
        client.mutation(UPDATE, { input: { id: vapiEndpoint.uuid, name: `${tag} lost`, expectedUpdatedAt: vapiEndpoint.updatedAt } }),
      );
      assert.deepEqual(stale.updateEndpoint.userErrors.map((e) => e.code), ['STALE']);
      assert.equal(stale.updateEndpoint.currentEndpoint.name, name);

      try {
        const event = await within(10_000, 'the ENDPOINT_UPDATED event over graphql-sse', received);
        assert.equal(event.endpointId, vapiEndpoint.id);
        assert.equal(event.endpoint.name, name);
      } finally {
        subscription.unsubscribe();
      }
      vapiEndpoint = data.updateEndpoint.endpoint;
    },
  ],
  [
    'an Idempotency-Key in fetchOptions: the retry returns the same endpoint and creates nothing',
    async () => {
      // An operation's fetchOptions replace the client's, so the credential goes along.
      const headers = { authorization, 'idempotency-key': randomUUID() };
      const input = vapi(`${tag} idempotent`, 'asst_idem');
      const first = await create(input, { fetchOptions: { headers } });
      const retry = await create(input, { fetchOptions: { headers } });
      assert.equal(retry.endpoint.id, first.endpoint.id);
      assert.equal(exchanges.at(-1).headers.get('idempotent-replayed'), 'true');
      const data = await run(
        client.query(LIST, { first: 2, filter: { search: `${tag} idempotent` } }, { requestPolicy: 'network-only' }),
      );
      assert.equal(data.endpoints.totalCount, 1);
    },
  ],
  [
    'a subscription over graphql-ws (context transport: ws) receives an endpoint created elsewhere',
    async () => {
      const after = await latestEventCursor();
      const name = `${tag} via ws`;
      let subscription;
      const received = new Promise((resolve, reject) => {
        subscription = client
          .subscription(EVENTS, { after, filter: { types: ['ENDPOINT_CREATED'] } }, { transport: 'ws' })
          .subscribe(({ data, error }) => {
            if (error) reject(error);
            else if (data?.endpointEvents.endpoint?.name === name) resolve(data.endpointEvents);
          });
      });
      try {
        const endpoint = await createElsewhere(name);
        const event = await within(10_000, 'the ENDPOINT_CREATED event over graphql-ws', received);
        assert.equal(event.type, 'ENDPOINT_CREATED');
        assert.equal(event.endpointId, endpoint.id);
        assert.equal(event.endpoint.id, endpoint.id);
        assert.ok(event.cursor);
        assert.ok(wsConnected, 'the subscription went over the WebSocket');
      } finally {
        subscription.unsubscribe();
      }
    },
  ],
  [
    'a live query (@live) over graphql-ws is sent again with an endpoint created elsewhere',
    async () => {
      const LIVE = gql`
        query UrqlLive($filter: EndpointFilter) @live {
          endpoints(first: 100, filter: $filter) {
            totalCount
            nodes { id name }
          }
        }
      `;
      const name = `${tag} live`;
      let subscription;
      const results = [];
      const listed = new Promise((resolve, reject) => {
        subscription = client
          .query(LIVE, { filter: { search: name } }, { requestPolicy: 'network-only' })
          .subscribe(({ data, error }) => {
            if (error) reject(error);
            else if (data) {
              results.push(data);
              if (data.endpoints.nodes.some((node) => node.name === name)) resolve(data);
            }
          });
      });
      try {
        await within(10_000, 'the live query\'s first result', (async () => {
          while (results.length === 0) await new Promise((r) => setTimeout(r, 50));
        })());
        assert.equal(results[0].endpoints.totalCount, 0);
        const endpoint = await createElsewhere(name);
        const data = await within(10_000, 'the live query sent again', listed);
        assert.equal(data.endpoints.totalCount, 1);
        assert.equal(data.endpoints.nodes[0].id, endpoint.id);
      } finally {
        subscription.unsubscribe();
      }
    },
  ],
  [
    'persisted queries with persistedExchange: a known document goes by its sha256 alone, by GET',
    async () => {
      // A document this run alone sends (its alias), so the gateway can't know its hash yet.
      const alias = `n${Date.now().toString(36)}`;
      const APQ = gql(`query UrqlApq($id: ID!) { node(id: $id) { id ... on Endpoint { ${alias}: name } } }`);
      const before = exchanges.length;
      const first = await run(client.query(APQ, { id: vapiEndpoint.id }, { requestPolicy: 'network-only' }));
      const again = await run(client.query(APQ, { id: vapiEndpoint.id }, { requestPolicy: 'network-only' }));
      assert.equal(first.node[alias], vapiEndpoint.name);
      assert.equal(again.node[alias], vapiEndpoint.name);
      const sent = exchanges.slice(before);
      // Hash alone (PERSISTED_QUERY_NOT_FOUND), hash with the text, then the hash alone is enough.
      assert.deepEqual(sent.map(({ query }) => typeof query === 'string'), [false, true, false]);
      assert.equal(sent[2].method, 'GET');
      assert.match(sent[0].hash, /^[0-9a-f]{64}$/);
      assert.ok(sent.every(({ hash }) => hash === sent[0].hash));
    },
  ],
  [
    'deleteEndpoint answers deletedEndpointId; invalidated, the cached list drops it and node(id) is NOT_FOUND',
    async () => {
      const victim = created.at(-1);
      const data = await run(client.mutation(DELETE, { input: { id: victim.uuid, expectedUpdatedAt: victim.updatedAt } }));
      assert.deepEqual(data.deleteEndpoint.deletedEndpointId, victim.id);
      assert.ok(!(await cachedList()).endpoints.edges.some((e) => e.node?.id === victim.id));
      const gone = await client.query(NODE, { id: victim.id }, { requestPolicy: 'network-only' }).toPromise();
      assert.equal(gone.data?.node ?? null, null);
      assert.equal(gone.error.graphQLErrors[0].extensions.code, 'NOT_FOUND');
    },
  ],
  [
    'Graphcache had nothing to warn about',
    async () => assert.deepEqual(warnings, []),
  ],
]);

sse.dispose();
await ws.dispose();
