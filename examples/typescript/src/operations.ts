// The operations this example runs; `npm run codegen` types them from ../../schema.graphql.
import { graphql } from './gql/index.js';

export const CreateEndpoint = graphql(`
  mutation CreateEndpoint($input: CreateEndpointInput!) {
    createEndpoint(input: $input) {
      endpoint {
        id
        name
        type
        url
        status
        updatedAt
        providerConfig {
          __typename
          ... on VogentConfig { sipPasswordSet }
          ... on CustomSipConfig { passwordSet }
        }
      }
      endpointEdge(orderBy: { field: CREATED_AT, direction: ASC }) { cursor node { id } }
      userErrors { field message code }
    }
  }
`);

export const ListEndpoints = graphql(`
  query ListEndpoints($first: Int!, $after: String) {
    endpoints(first: $first, after: $after, orderBy: { field: CREATED_AT, direction: ASC }) {
      totalCount
      edges { cursor node { id name type url status } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const UpdateEndpoint = graphql(`
  mutation UpdateEndpoint($input: UpdateEndpointInput!) {
    updateEndpoint(input: $input) {
      endpoint { id name status url updatedAt }
      currentEndpoint { id name updatedAt }
      userErrors { field message code }
    }
  }
`);

export const DeleteEndpoint = graphql(`
  mutation DeleteEndpoint($id: UUID!) {
    deleteEndpoint(input: { id: $id }) {
      deletedEndpointId
      userErrors { field message code }
    }
  }
`);

// Relay's refetch: any object by its id alone.
export const RefetchNode = graphql(`
  query RefetchNode($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on Endpoint { name status }
    }
  }
`);

export const LatestEvent = graphql(`
  query LatestEvent {
    events(first: 1) { edges { cursor } }
  }
`);

export const EndpointEvents = graphql(`
  subscription EndpointEvents($after: String) {
    endpointEvents(after: $after) {
      id
      cursor
      type
      endpointId
      endpoint { id name url }
      event { actor { kind apiKeyPrefix } after }
    }
  }
`);

// A live query: over WebSocket the list is sent again whenever an endpoint of this
// organization and mode changes (at most once per the gateway's interval).
export const LiveEndpoints = graphql(`
  query LiveEndpoints @live {
    endpoints(first: 100) {
      totalCount
      nodes { id name }
    }
  }
`);
