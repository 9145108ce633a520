// Apollo Client 4 against a live gateway: relay-style pagination in InMemoryCache, node
// refetch, create/update/delete with cache updates, the provider-config union, user errors,
// an Idempotency-Key retry, automatic persisted queries, and subscriptions over graphql-ws, over
// graphql-sse (graphql-sse's ApolloLink recipe) and over HttpLink's multipart subscriptions,
// chosen by the operation's context.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities';
import { print } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient } from 'graphql-ws';
import { Observable } from 'rxjs';
import WebSocket from 'ws';

import { authorization, createElsewhere, latestEventCursor, possibleTypes, scenarios, tagFor, url, within, wsUrl } from './common.mjs';

const tag = tagFor('apollo');

// Every HTTP exchange, to check what went over the wire (APQ, the idempotent replay).
const exchanges = [];
const recordingFetch = async (input, init) => {
  const response = await fetch(input, init);
  exchanges.push({ body: JSON.parse(init.body), status: response.status, headers: response.headers });
  return response;
};

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const http = new PersistedQueryLink({ sha256 }).concat(
  new HttpLink({ uri: url, headers: { authorization }, fetch: recordingFetch }),
);
const wsClient = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization } });
const sseClient = createSseClient({ url, headers: { authorization } });
// Subscriptions over graphql-ws, or over graphql-sse when the operation's context says 'sse'.
let sseSubscriptions = 0;
const sseLink = new ApolloLink(
  (operation) =>
    new Observable((sink) => {
      sseSubscriptions += 1;
      return sseClient.subscribe(
        { query: print(operation.query), variables: operation.variables, operationName: operation.operationName },
        { next: (value) => sink.next(value), error: (error) => sink.error(error), complete: () => sink.complete() },
      );
    }),
);
// HttpLink subscribes by itself, over Apollo's multipart HTTP protocol; what went over the wire
// is kept to check it was that protocol.
const multipartExchanges = [];
const multipartLink = new HttpLink({
  uri: url,
  headers: { authorization },
  fetch: async (input, init) => {
    const response = await fetch(input, init);
    multipartExchanges.push({ accept: new Headers(init.headers).get('accept'), type: response.headers.get('content-type') });
    return response;
  },
});
const transport = (name) => (operation) => operation.getContext().transport === name;
const link = ApolloLink.split(
  ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
  },
  ApolloLink.split(
    transport('sse'),
    sseLink,
    ApolloLink.split(transport('multipart'), multipartLink, new GraphQLWsLink(wsClient)),
  ),
  http,
);
const client = new ApolloClient({
  link,
  cache: new InMemoryCache({
    possibleTypes,
    typePolicies: { Query: { fields: { endpoints: relayStylePagination(['filter', 'orderBy']) } } },
  }),
});

const ENDPOINT = gql`
  fragment ApolloEndpoint on Endpoint {
    id
    uuid
    name
    type
    url
    status
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
  query ApolloList($first: Int!, $after: String, $filter: EndpointFilter) {
    endpoints(first: $first, after: $after, filter: $filter) {
      totalCount
      edges {
        cursor
        node {
          ...ApolloEndpoint
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
  query ApolloNode($id: ID!) {
    node(id: $id) {
      id
      ... on Endpoint {
        ...ApolloEndpoint
      }
    }
  }
  ${ENDPOINT}
`;
const CREATE = gql`
  mutation ApolloCreate($input: CreateEndpointInput!) {
    createEndpoint(input: $input) {
      endpoint {
        ...ApolloEndpoint
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
  mutation ApolloUpdate($input: UpdateEndpointInput!) {
    updateEndpoint(input: $input) {
      endpoint {
        ...ApolloEndpoint
      }
      currentEndpoint {
        ...ApolloEndpoint
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
  mutation ApolloDelete($input: DeleteEndpointInput!) {
    deleteEndpoint(input: $input) {
      deletedEndpointId
      userErrors {
        code
      }
    }
  }
`;
const EVENTS = gql`
  subscription ApolloEvents($after: String, $filter: EndpointEventFilter) {
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
const create = async (input, context) => {
  const { data } = await client.mutate({ mutation: CREATE, variables: { input }, context });
  assert.deepEqual(data.createEndpoint.userErrors, []);
  return data.createEndpoint;
};
const listIds = () =>
  client.readQuery({ query: LIST, variables: { first: 2, filter } }).endpoints.edges.map((e) => e.node.id);

let created = [];
let vapiEndpoint;

await scenarios('Apollo Client', [
  [
    'createEndpoint answers the endpoint and its edge, with the VapiConfig of the union',
    async () => {
      for (let i = 0; i < 5; i += 1) created.push((await create(vapi(`${tag} ${i}`, `asst_${i}`))).endpoint);
      const payload = await create({ name: `${tag} retell`, type: 'RETELL', providerConfig: { retell: { agentId: 'agent_r' } } });
      assert.equal(payload.endpoint.providerConfig.__typename, 'RetellConfig');
      assert.equal(payload.endpoint.providerConfig.agentId, 'agent_r');
      assert.equal(payload.endpointEdge.node.id, payload.endpoint.id);
      assert.ok(payload.endpointEdge.cursor);
      created.push(payload.endpoint);
      vapiEndpoint = created[0];
      assert.deepEqual(vapiEndpoint.providerConfig, { __typename: 'VapiConfig', assistantId: 'asst_0', credentialId: null });
      assert.equal(vapiEndpoint.url, 'sip:asst_0@sip.vapi.ai');
    },
  ],
  [
    'pages through endpoints with fetchMore({ after }), merged by relayStylePagination',
    async () => {
      const query = client.watchQuery({ query: LIST, variables: { first: 2, filter } });
      const subscription = query.subscribe(() => {});
      try {
        const { data } = await query.refetch();
        assert.equal(data.endpoints.totalCount, 6);
        assert.equal(data.endpoints.edges.length, 2);
        let { pageInfo } = data.endpoints;
        for (let pages = 1; pageInfo.hasNextPage; pages += 1) {
          assert.ok(pages < 3, 'six endpoints are three pages of two');
          const next = await query.fetchMore({ variables: { after: pageInfo.endCursor } });
          assert.equal(next.data.endpoints.edges.length, 2);
          ({ pageInfo } = next.data.endpoints);
        }
        // Newest first, all six in one cached list, none twice.
        assert.deepEqual(listIds(), created.map((e) => e.id).reverse());
      } finally {
        subscription.unsubscribe();
      }
    },
  ],
  [
    'refetches one endpoint by node(id) into the same cache entry',
    async () => {
      const { data } = await client.query({ query: NODE, variables: { id: vapiEndpoint.id }, fetchPolicy: 'network-only' });
      assert.equal(data.node.__typename, 'Endpoint');
      assert.equal(data.node.name, vapiEndpoint.name);
      assert.equal(data.node.providerConfig.assistantId, 'asst_0');
      assert.equal(client.cache.identify(data.node), `Endpoint:${vapiEndpoint.id}`);
    },
  ],
  [
    'a refused mutation answers userErrors with the field and code',
    async () => {
      const { data } = await client.mutate({ mutation: CREATE, variables: { input: vapi('   ', 'asst_blank') } });
      assert.equal(data.createEndpoint.endpoint, null);
      assert.equal(data.createEndpoint.endpointEdge, null);
      assert.deepEqual(
        data.createEndpoint.userErrors.map(({ field, code }) => ({ field, code })),
        [{ field: ['input', 'name'], code: 'BLANK' }],
      );
    },
  ],
  [
    'updateEndpoint with expectedUpdatedAt writes, a stale one answers STALE and currentEndpoint; the subscription over graphql-ws receives the update',
    async () => {
      const after = await latestEventCursor();
      const received = new Promise((resolve, reject) => {
        const sub = client
          .subscribe({ query: EVENTS, variables: { after, filter: { endpointIds: [vapiEndpoint.uuid] } } })
          .subscribe({
            next: ({ data, error }) => {
              if (error) reject(error);
              else if (data.endpointEvents.type === 'ENDPOINT_UPDATED') {
                sub.unsubscribe();
                resolve(data.endpointEvents);
              }
            },
            error: reject,
          });
      });
      const name = `${tag} renamed`;
      const { data } = await client.mutate({
        mutation: UPDATE,
        variables: { input: { id: vapiEndpoint.uuid, name, expectedUpdatedAt: vapiEndpoint.updatedAt } },
      });
      assert.deepEqual(data.updateEndpoint.userErrors, []);
      assert.equal(data.updateEndpoint.endpoint.name, name);
      assert.ok(data.updateEndpoint.endpoint.updatedAt > vapiEndpoint.updatedAt);
      // The cache's copy of the endpoint (and so the cached list) follows the mutation.
      assert.equal(client.readFragment({ id: `Endpoint:${vapiEndpoint.id}`, fragment: ENDPOINT }).name, name);

      const stale = await client.mutate({
        mutation: UPDATE,
        variables: { input: { id: vapiEndpoint.uuid, name: `${tag} lost`, expectedUpdatedAt: vapiEndpoint.updatedAt } },
      });
      assert.equal(stale.data.updateEndpoint.endpoint, null);
      assert.deepEqual(stale.data.updateEndpoint.userErrors.map((e) => e.code), ['STALE']);
      assert.equal(stale.data.updateEndpoint.currentEndpoint.name, name);

      const event = await within(10_000, 'the ENDPOINT_UPDATED event over graphql-ws', received);
      assert.equal(event.endpointId, vapiEndpoint.id);
      assert.equal(event.endpoint.name, name);
      assert.ok(event.cursor);
      vapiEndpoint = data.updateEndpoint.endpoint;
    },
  ],
  [
    'a subscription over graphql-sse (context transport: sse) receives an endpoint created elsewhere, and the cache holds it',
    async () => {
      const after = await latestEventCursor();
      const name = `${tag} via sse`;
      let sub;
      const received = new Promise((resolve, reject) => {
        sub = client
          .subscribe({ query: EVENTS, variables: { after, filter: { types: ['ENDPOINT_CREATED'] } }, context: { transport: 'sse' } })
          .subscribe({
            next: ({ data, error }) => {
              if (error) reject(error);
              else if (data.endpointEvents.endpoint?.name === name) resolve(data.endpointEvents);
            },
            error: reject,
          });
      });
      try {
        const endpoint = await createElsewhere(name);
        const event = await within(10_000, 'the ENDPOINT_CREATED event over graphql-sse', received);
        assert.equal(event.type, 'ENDPOINT_CREATED');
        assert.equal(event.endpointId, endpoint.id);
        assert.ok(event.cursor);
        const cached = client.readFragment({ id: `Endpoint:${endpoint.id}`, fragment: gql`fragment ApolloSseEndpoint on Endpoint { id name }` });
        assert.equal(cached.name, name);
        assert.equal(sseSubscriptions, 1);
      } finally {
        sub.unsubscribe();
      }
    },
  ],
  [
    "a subscription over HttpLink's multipart subscriptions (context transport: multipart) receives an endpoint created elsewhere",
    async () => {
      const after = await latestEventCursor();
      const name = `${tag} via multipart`;
      let sub;
      const received = new Promise((resolve, reject) => {
        sub = client
          .subscribe({ query: EVENTS, variables: { after, filter: { types: ['ENDPOINT_CREATED'] } }, context: { transport: 'multipart' } })
          .subscribe({
            next: ({ data, error }) => {
              if (error) reject(error);
              else if (data?.endpointEvents.endpoint?.name === name) resolve(data.endpointEvents);
            },
            error: reject,
          });
      });
      try {
        const endpoint = await createElsewhere(name);
        const event = await within(10_000, 'the ENDPOINT_CREATED event over multipart', received);
        assert.equal(event.type, 'ENDPOINT_CREATED');
        assert.equal(event.endpointId, endpoint.id);
        assert.ok(event.cursor);
        const cached = client.readFragment({ id: `Endpoint:${endpoint.id}`, fragment: gql`fragment ApolloMultipartEndpoint on Endpoint { id name }` });
        assert.equal(cached.name, name);
        assert.equal(multipartExchanges.length, 1);
        assert.match(multipartExchanges[0].accept, /multipart\/mixed;.*subscriptionSpec="?1\.0/);
        assert.match(multipartExchanges[0].type, /^multipart\/mixed;boundary="graphql";subscriptionSpec=1\.0/);
      } finally {
        sub.unsubscribe();
      }
    },
  ],
  [
    'an Idempotency-Key sent in the context headers: the retry returns the same endpoint and creates nothing',
    async () => {
      const context = { headers: { 'Idempotency-Key': randomUUID() } };
      const input = vapi(`${tag} idempotent`, 'asst_idem');
      const first = await create(input, context);
      const retry = await create(input, context);
      assert.equal(retry.endpoint.id, first.endpoint.id);
      assert.equal(exchanges.at(-1).headers.get('idempotent-replayed'), 'true');
      const { data } = await client.query({
        query: LIST,
        variables: { first: 2, filter: { search: `${tag} idempotent` } },
        fetchPolicy: 'network-only',
      });
      assert.equal(data.endpoints.totalCount, 1);
      created.push(first.endpoint);
    },
  ],
  [
    'automatic persisted queries: a known document goes by its sha256 alone',
    async () => {
      // A document this run alone sends (its alias), so the gateway can't know its hash yet.
      const alias = `n${Date.now().toString(36)}`;
      const APQ = gql(`query ApolloApq($id: ID!) { node(id: $id) { id ... on Endpoint { ${alias}: name } } }`);
      const before = exchanges.length;
      const first = await client.query({ query: APQ, variables: { id: vapiEndpoint.id }, fetchPolicy: 'network-only' });
      const again = await client.query({ query: APQ, variables: { id: vapiEndpoint.id }, fetchPolicy: 'network-only' });
      assert.equal(first.data.node[alias], vapiEndpoint.name);
      assert.equal(again.data.node[alias], vapiEndpoint.name);
      const sent = exchanges.slice(before).map(({ body }) => ({ text: typeof body.query === 'string', hash: body.extensions?.persistedQuery?.sha256Hash }));
      // Hash alone (PERSISTED_QUERY_NOT_FOUND), hash with the text, then the hash alone is enough.
      assert.deepEqual(sent.map(({ text }) => text), [false, true, false]);
      assert.match(sent[0].hash, /^[0-9a-f]{64}$/);
      assert.ok(sent.every(({ hash: h }) => h === sent[0].hash));
    },
  ],
  [
    'deleteEndpoint answers deletedEndpointId; evicted, the cached list drops it and node(id) is NOT_FOUND',
    async () => {
      const victim = created.at(-2);
      const { data } = await client.mutate({
        mutation: DELETE,
        variables: { input: { id: victim.uuid, expectedUpdatedAt: victim.updatedAt } },
        update(cache, { data: result }) {
          cache.evict({ id: cache.identify({ __typename: 'Endpoint', id: result.deleteEndpoint.deletedEndpointId }) });
          cache.gc();
        },
      });
      assert.deepEqual(data.deleteEndpoint, { __typename: 'DeleteEndpointPayload', deletedEndpointId: victim.id, userErrors: [] });
      assert.ok(!listIds().includes(victim.id));
      const gone = await client.query({ query: NODE, variables: { id: victim.id }, fetchPolicy: 'network-only', errorPolicy: 'all' });
      assert.equal(gone.data.node, null);
      assert.equal(gone.error.errors[0].extensions.code, 'NOT_FOUND');
    },
  ],
]);

await wsClient.dispose();
sseClient.dispose();
