// The Relay client's documents: relay-compiler reads them (`npx relay-compiler` in this
// directory) into __generated__/, which relay.mjs imports; this file is never run.
import { graphql } from 'relay-runtime';

graphql`
  fragment RelayMatrix_endpoint on Endpoint {
    id
    uuid
    name
    type
    updatedAt
    providerConfig {
      __typename
      ... on VapiConfig {
        assistantId
      }
      ... on RetellConfig {
        agentId
      }
    }
  }
`;

graphql`
  query RelayMatrixListQuery($first: Int!, $after: String, $filter: EndpointFilter) {
    endpoints(first: $first, after: $after, filter: $filter) @connection(key: "RelayMatrix_endpoints", filters: ["filter"]) {
      totalCount
      edges {
        node {
          ...RelayMatrix_endpoint @relay(mask: false)
        }
      }
    }
  }
`;

graphql`
  query RelayMatrixNodeQuery($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on Endpoint {
        name
        providerConfig {
          __typename
          ... on VapiConfig {
            assistantId
          }
        }
      }
    }
  }
`;

graphql`
  mutation RelayMatrixCreateMutation($input: CreateEndpointInput!, $connections: [ID!]!) {
    createEndpoint(input: $input) {
      endpointEdge @prependEdge(connections: $connections) {
        cursor
        node {
          ...RelayMatrix_endpoint @relay(mask: false)
        }
      }
      userErrors {
        field
        code
      }
    }
  }
`;

graphql`
  mutation RelayMatrixUpdateMutation($input: UpdateEndpointInput!) {
    updateEndpoint(input: $input) {
      endpoint {
        ...RelayMatrix_endpoint @relay(mask: false)
      }
      currentEndpoint {
        id
        name
        updatedAt
      }
      userErrors {
        field
        code
      }
    }
  }
`;

graphql`
  mutation RelayMatrixDeleteMutation($input: DeleteEndpointInput!) {
    deleteEndpoint(input: $input) {
      deletedEndpointId @deleteRecord
      userErrors {
        code
      }
    }
  }
`;

graphql`
  subscription RelayMatrixEventsSubscription($after: String, $filter: EndpointEventFilter) {
    endpointEvents(after: $after, filter: $filter) {
      id
      cursor
      type
      endpointId
      endpoint {
        ...RelayMatrix_endpoint @relay(mask: false)
      }
    }
  }
`;
