// What every client scenario shares: the gateway's address and key (and the address of the
// gateway that runs only Relay's trusted documents), a tag that keeps each
// client's endpoints apart from everything else in the database, and the schema's possible
// types (for the caches' fragment matching on the `ProviderConfig` union and `Node`).
import { readFileSync } from 'node:fs';

import { buildSchema, introspectionFromSchema } from 'graphql';

export const url = process.env.GATEWAY_URL;
export const apiKey = process.env.API_KEY;
if (!url || !apiKey) throw new Error('set GATEWAY_URL (…/graphql) and API_KEY');
export const wsUrl = url.replace(/^http/, 'ws');
/** A gateway started with Relay's manifest in `enforce` mode (only Relay needs it). */
export const trustedUrl = process.env.TRUSTED_GATEWAY_URL;
export const authorization = `Bearer ${apiKey}`;

const sdl = readFileSync(new URL('../../../schema.graphql', import.meta.url), 'utf8');
export const schema = buildSchema(sdl);
export const introspection = introspectionFromSchema(schema);

/** Apollo's `possibleTypes`: each abstract type with the object types that implement it. */
export const possibleTypes = Object.fromEntries(
  introspection.__schema.types
    .filter((t) => t.kind === 'UNION' || t.kind === 'INTERFACE')
    .map((t) => [t.name, t.possibleTypes.map((p) => p.name)]),
);

/** A name prefix unique to one client's run: its lists search for it. */
export const tagFor = (client) => `matrix-${client}-${Date.now().toString(36)}`;

/** Resolves with the promise, or rejects after `ms` saying what was awaited. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs named scenarios in order and prints each; the first failure fails the client. */
export async function scenarios(client, list) {
  for (const [name, fn] of list) {
    try {
      await fn();
      console.log(`  ✓ ${client}: ${name}`);
    } catch (error) {
      console.error(`  ✗ ${client}: ${name}`);
      throw error;
    }
  }
}

/** Sends one operation as text with plain fetch, outside any client; fails on `errors`. */
export async function post(query, variables) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** Creates a Vapi endpoint outside the client under test (so only a subscription can bring it). */
export async function createElsewhere(name) {
  const data = await post(
    'mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id uuid name } userErrors { code } } }',
    { input: { name, type: 'VAPI', providerConfig: { vapi: { assistantId: 'asst_elsewhere' } } } },
  );
  if (data.createEndpoint.userErrors.length) throw new Error(JSON.stringify(data.createEndpoint.userErrors));
  return data.createEndpoint.endpoint;
}

/** The cursor of the newest event the key can see, for a subscription to resume after. */
export async function latestEventCursor() {
  const data = await post('{ events(first: 1) { edges { cursor } } }');
  return data.events.edges[0]?.cursor ?? null;
}
