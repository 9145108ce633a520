#!/usr/bin/env bash
# End-to-end checks with real clients against a live gateway: GraphiQL and an EventSource on a
# stream ticket in Debian's Chromium, the schema contract (live introspection, breaking changes
# since the previous commit, and those the TypeScript example's trusted documents use) and the
# typed TypeScript example, graphql-http's GraphQL-over-HTTP audit, the WebSocket closes a real
# client (ws) sees, and the client matrix
# (Apollo Client, urql, Relay; Relay's persisted documents on a second gateway enforcing them).
# Needs the gateway built (cargo build), node/npm and chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${COCKPIT_BIN:-target/debug/cockpit-gateway}
artifacts=${E2E_ARTIFACTS:-target/e2e}
mkdir -p "$artifacts"
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Waits for a gateway at $1 to answer /healthz; fails when it doesn't within 10 s.
await_gateway() {
  for _ in $(seq 1 100); do
    curl -sf "$1/healthz" >/dev/null && return 0
    sleep 0.1
  done
  curl -sf "$1/healthz" >/dev/null
}
port=$(free_port)
url="http://127.0.0.1:$port"
export DATABASE_URL="sqlite://$work/e2e.db?mode=rwc" RUST_LOG=warn
passed=0

"$bin" migrate 2>/dev/null
org=$("$bin" org create --name "End to end" 2>/dev/null)
key=$("$bin" key create --org "$org" --mode test --name e2e 2>/dev/null)
"$bin" serve --listen "127.0.0.1:$port" 2>"$artifacts/gateway.log" &
gateway=$!
trap 'kill $gateway 2>/dev/null; wait $gateway 2>/dev/null; rm -rf "$work"' EXIT
await_gateway "$url"

name="GraphiQL e2e agent"
curl -sf "$url/graphql" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "{\"query\":\"mutation { createEndpoint(input: {name: \\\"$name\\\", type: VAPI, providerConfig: {vapi: {assistantId: \\\"asst_e2e\\\"}}}) { userErrors { code } } }\"}" >/dev/null

echo "--- GraphiQL in Chromium"
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/js && GATEWAY_URL="$url" API_KEY="$key" EXPECT_NAME="$name" \
  SCREENSHOT="$(pwd)/../../$artifacts/graphiql.png" node graphiql.mjs)
echo "artifact: $artifacts/graphiql.png"
passed=$((passed + 1))

echo "--- EventSource on a stream ticket in Chromium"
(cd tests/js && GATEWAY_URL="$url" API_KEY="$key" node eventsource.mjs)
passed=$((passed + 1))

echo "--- schema contract: live introspection equals schema.graphql"
(cd tests/js && node schema-contract.mjs live "$url/graphql" ../../schema.graphql)
passed=$((passed + 1))

echo "--- schema contract: breaking changes since the previous commit"
if git rev-parse -q --verify HEAD~1 >/dev/null && git cat-file -e HEAD~1:schema.graphql 2>/dev/null; then
  git show HEAD~1:schema.graphql >"$work/previous.graphql"
  # graphql-inspector exits non-zero on breaking changes; "BREAKING:" in the message allows them.
  if ! (cd tests/js && npx --no-install graphql-inspector diff "$work/previous.graphql" ../../schema.graphql); then
    if git log -1 --format=%B | grep -q 'BREAKING:'; then
      echo "breaking changes, announced with BREAKING: in the commit message"
    else
      echo "breaking changes to schema.graphql: say BREAKING: in the commit message if they are meant" >&2
      exit 1
    fi
  fi
else
  echo "no previous schema.graphql to compare with"
fi
passed=$((passed + 1))

echo "--- GraphQL over HTTP: graphql-http's server audit, every MUST and SHOULD"
(cd tests/js && GATEWAY_URL="$url/graphql" API_KEY="$key" node audit.mjs)
passed=$((passed + 1))

echo "--- WebSocket closes as a real client (ws) sees them"
(cd tests/js && GATEWAY_URL="$url/graphql" API_KEY="$key" node closes.mjs)
passed=$((passed + 1))

echo "--- client matrix: Apollo Client, urql with Graphcache, Relay (HTTP, graphql-ws, graphql-sse, persisted documents)"
# Relay's persisted documents run on a second gateway, over the same database, that runs only
# the manifest relay-compiler writes.
(cd tests/js && node clients.mjs --compile-relay >/dev/null)
relay_port=$(free_port)
"$bin" serve --listen "127.0.0.1:$relay_port" \
  --trusted-documents tests/js/relay/persisted/__generated__/trusted-documents.json \
  --trusted-documents-mode enforce 2>"$artifacts/relay-trusted-gateway.log" &
relay_gateway=$!
trap 'kill $gateway $relay_gateway 2>/dev/null; wait $gateway $relay_gateway 2>/dev/null; rm -rf "$work"' EXIT
await_gateway "http://127.0.0.1:$relay_port"
(cd tests/js && GATEWAY_URL="$url/graphql" TRUSTED_GATEWAY_URL="http://127.0.0.1:$relay_port/graphql" API_KEY="$key" node clients.mjs)
kill $relay_gateway 2>/dev/null; wait $relay_gateway 2>/dev/null || true
passed=$((passed + 1))

echo "--- TypeScript example (graphql-request, GraphQL Code Generator)"
(cd examples/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run --silent codegen \
  && npm run --silent typecheck && npm run --silent build \
  && GATEWAY_URL="$url/graphql" COCKPIT_API_KEY="$key" npm start --silent)
passed=$((passed + 1))

echo "--- schema contract: breaking changes the TypeScript example's trusted documents use"
# The manifest codegen wrote above, checked against the previous commit's schema: exit 1 (a
# breaking change is in use) passes only with "BREAKING:" in the message; 2 (no check) fails.
if [ -f "$work/previous.graphql" ]; then
  status=0
  "$bin" schema check --against "$work/previous.graphql" \
    --documents examples/typescript/src/gql/persisted-documents.json || status=$?
  if [ "$status" = 1 ] && git log -1 --format=%B | grep -q 'BREAKING:'; then
    echo "breaking changes in use, announced with BREAKING: in the commit message"
  elif [ "$status" != 0 ]; then
    echo "schema check exited $status: say BREAKING: in the commit message if the changes are meant" >&2
    exit 1
  fi
else
  echo "no previous schema.graphql to compare with"
fi
passed=$((passed + 1))

echo "--- TypeScript example against a gateway that runs its trusted documents only"
# The manifest codegen wrote above; the same database, a second gateway in enforce mode.
trusted_port=$(free_port)
trusted_url="http://127.0.0.1:$trusted_port"
"$bin" serve --listen "127.0.0.1:$trusted_port" \
  --trusted-documents examples/typescript/src/gql/persisted-documents.json \
  --trusted-documents-mode enforce 2>"$artifacts/trusted-gateway.log" &
trusted_gateway=$!
trap 'kill $gateway $trusted_gateway 2>/dev/null; wait $gateway $trusted_gateway 2>/dev/null; rm -rf "$work"' EXIT
await_gateway "$trusted_url"
(cd examples/typescript && TRUSTED_DOCUMENTS=1 GATEWAY_URL="$trusted_url/graphql" COCKPIT_API_KEY="$key" npm start --silent)
refused=$(curl -s -o /dev/null -w '%{http_code}' "$trusted_url/graphql" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d '{"query":"{ endpoints(first: 1) { totalCount } }"}')
[ "$refused" = 400 ] || { echo "an ad hoc query on the enforcing gateway was answered $refused"; exit 1; }
echo "ad hoc query refused with $refused (PERSISTED_QUERY_NOT_ALLOWED)"
kill $trusted_gateway 2>/dev/null; wait $trusted_gateway 2>/dev/null || true
passed=$((passed + 1))

echo "--- REST contract: schemathesis against /v1/openapi.json"
venv=target/e2e/venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5
fi
"$venv/bin/schemathesis" run "$url/v1/openapi.json" --no-color --max-examples 50 \
  --header "Authorization: Bearer $key" --header "x-organization-id: $org" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
passed=$((passed + 1))

echo "e2e: $passed passed, 0 failed"
