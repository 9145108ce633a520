// Relay (relay-runtime, documents compiled by relay-compiler from relay/RelayMatrix.js) against
// a live gateway: a @connection paged with `after`, refetch by node, create with @prependEdge,
// delete with @deleteRecord, the provider-config union and user errors.
import assert from 'node:assert/strict';

import RelayRuntime from 'relay-runtime';

import CreateMutation from '../relay/__generated__/RelayMatrixCreateMutation.graphql.js';
import DeleteMutation from '../relay/__generated__/RelayMatrixDeleteMutation.graphql.js';
import ListQuery from '../relay/__generated__/RelayMatrixListQuery.graphql.js';
import NodeQuery from '../relay/__generated__/RelayMatrixNodeQuery.graphql.js';
import { authorization, scenarios, tagFor, url } from './common.mjs';

const { ConnectionHandler, Environment, Network, RecordSource, ROOT_ID, Store, commitMutation, createOperationDescriptor, fetchQuery } =
  RelayRuntime;

const tag = tagFor('relay');
const environment = new Environment({
  network: Network.create(async (params, variables) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization },
      body: JSON.stringify({ query: params.text, variables }),
    });
    return response.json();
  }),
  store: new Store(new RecordSource()),
});

const filter = { search: tag };
const listVariables = { first: 2, after: null, filter };
const listOperation = createOperationDescriptor(ListQuery, listVariables);
environment.retain(listOperation);
const connectionId = ConnectionHandler.getConnectionID(ROOT_ID, 'RelayMatrix_endpoints', { filter });
const cachedIds = () => environment.lookup(listOperation.fragment).data.endpoints.edges.filter((e) => e?.node).map((e) => e.node.id);

const mutate = (mutation, variables) =>
  new Promise((resolve, reject) => {
    commitMutation(environment, {
      mutation,
      variables,
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
    'a refused mutation answers userErrors with the field and code, and adds no edge',
    async () => {
      const response = await mutate(CreateMutation, { input: vapi('   ', 'asst_blank'), connections: [connectionId] });
      assert.equal(response.createEndpoint.endpointEdge, null);
      assert.deepEqual(response.createEndpoint.userErrors, [{ field: ['input', 'name'], code: 'BLANK' }]);
      assert.equal(cachedIds().length, 6);
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
