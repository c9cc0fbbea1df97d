// Chronograph's playground: GraphiQL (vendored, see README.md here) against this gateway.
// No external URL: every script, style and font comes from /playground/assets/.
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var apiKeys = root.getAttribute('data-api-keys') === 'true';
  var firstQuery = document.getElementById('first-query').textContent;
  var wsScheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  // The header editor's headers, also sent in connection_init for subscriptions (browsers
  // cannot set headers on a WebSocket; Chronograph reads them from the payload).
  var headers = {};
  var wsClient = graphqlWs.createClient({
    url: wsScheme + location.host + '/graphql/ws',
    lazy: true,
    connectionParams: function () {
      return { headers: headers };
    },
  });
  var fetch = GraphiQL.createFetcher({ url: location.origin + '/graphql', wsClient: wsClient });
  function fetcher(params, options) {
    headers = (options && options.headers) || {};
    return fetch(params, options);
  }
  var props = {
    fetcher: fetcher,
    defaultQuery: firstQuery,
    isHeadersEditorEnabled: true,
  };
  if (apiKeys) {
    props.defaultHeaders = '{\n  "Authorization": "Bearer <your API key>"\n}';
    props.defaultEditorToolsVisibility = 'headers';
  }
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
