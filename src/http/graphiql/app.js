// GraphiQL for the Cockpit gateway, served by the gateway itself (no CDN).
(function () {
  'use strict';

  var PLACEHOLDER_KEY = 'kros_test_…';
  var defaultHeaders = JSON.stringify({ Authorization: 'Bearer ' + PLACEHOLDER_KEY }, null, 2);
  var defaultQuery = [
    '# Welcome to the Cockpit gateway.',
    '#',
    '# 1. In Headers below, replace ' + PLACEHOLDER_KEY + ' with your API key.',
    '# 2. Run the query with the ▶ button or Ctrl-Enter.',
    '# The Docs button (top left) lists every type and field; the Explorer button builds a',
    '# query by ticking fields.',
    '',
    'query ListEndpoints($first: Int = 10) {',
    '  endpoints(first: $first) {',
    '    totalCount',
    '    edges {',
    '      cursor',
    '      node { id name type url status mode createdAt }',
    '    }',
    '    pageInfo { hasNextPage endCursor }',
    '  }',
    '}',
    '',
  ].join('\n');

  // The schema loads without a key; the untouched placeholder would be refused, so it is
  // left out of introspection requests.
  function headersFor(params, given) {
    var headers = {
      'Content-Type': 'application/json',
      Accept: 'application/graphql-response+json, application/json',
    };
    var introspection = params && params.operationName === 'IntrospectionQuery';
    Object.keys(given || {}).forEach(function (name) {
      var value = String(given[name]);
      var credential = /^(authorization|x-api-key)$/i.test(name);
      if (introspection && credential && value.indexOf(PLACEHOLDER_KEY) !== -1) {
        return;
      }
      headers[name] = value;
    });
    return headers;
  }

  // Subscriptions and live queries (`query Name @live { … }`) go over a WebSocket to this
  // same URL (graphql-transport-ws), with the headers editor's credentials in
  // connection_init; a new client when they change.
  var socket = null;
  function subscriptionClient(headers) {
    var params = {};
    Object.keys(headers).forEach(function (name) {
      if (/^(authorization|x-api-key|x-organization-id)$/i.test(name)) {
        params[name] = headers[name];
      }
    });
    var key = JSON.stringify(params);
    if (!socket || socket.key !== key) {
      if (socket) {
        socket.client.dispose();
      }
      var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
      socket = { key: key, client: graphqlWs.createClient({ url: url, connectionParams: params, lazy: true }) };
    }
    return socket.client;
  }

  // Whether the operation to run is a subscription, or a query marked `@live` (between its
  // name and its selections), each of which streams its results.
  function streams(params) {
    var query = params && params.query ? params.query.replace(/#[^\n]*/g, '') : '';
    var name = params && params.operationName;
    var subscription = name
      ? new RegExp('\\bsubscription\\s+' + name + '\\b')
      : /^\s*subscription\b/;
    var live = name
      ? new RegExp('\\bquery\\s+' + name + '\\b[^{]*@live\\b')
      : /^\s*query\b[^{]*@live\b/;
    var text = name ? query : query.trim();
    return subscription.test(text) || live.test(text);
  }

  function fetcher(params, options) {
    if (streams(params)) {
      var given = (options && options.headers) || {};
      return subscriptionClient(given).iterate({
        query: params.query,
        variables: params.variables,
        operationName: params.operationName,
      });
    }
    return fetch('/graphql', {
      method: 'POST',
      headers: headersFor(params, options && options.headers),
      body: JSON.stringify(params),
      credentials: 'same-origin',
    }).then(function (response) {
      return response.json();
    });
  }

  // The explorer's bundle finds React and GraphiQL's own copy of @graphiql/react as globals.
  var explorer = GraphiQLPluginExplorer.explorerPlugin();

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultHeaders: defaultHeaders,
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false,
      plugins: [explorer],
    })
  );
})();
