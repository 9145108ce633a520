// The Relay client's persisted documents: relay-compiler (`npx relay-compiler` in this
// directory, `persistConfig` in relay.config.json) writes their artifacts with an `id` and no
// text, and the manifest of id → text that a gateway started with `--trusted-documents` runs.
import { graphql } from 'relay-runtime';

graphql`
  query RelayPersistedNodeQuery($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on Endpoint {
        name
      }
    }
  }
`;

graphql`
  mutation RelayPersistedCreateMutation($input: CreateEndpointInput!) {
    createEndpoint(input: $input) {
      endpoint {
        id
        name
      }
      userErrors {
        field
        code
      }
    }
  }
`;

graphql`
  subscription RelayPersistedEventsSubscription($after: String, $filter: EndpointEventFilter) {
    endpointEvents(after: $after, filter: $filter) {
      id
      type
      endpoint {
        id
        name
      }
    }
  }
`;
