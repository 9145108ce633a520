// The schema contract, checked against a running gateway:
//   node schema-contract.mjs live <gateway-url> <schema.graphql>
// The live schema must equal schema.graphql: every change counts, not only breaking ones.
// graphql-inspector's CLI can't say so for a live schema: the introspection query it sends
// doesn't ask for isOneOf, so @oneOf always looks removed. Its core library does the diff
// here, over an introspection that does ask. (tests/e2e.sh uses the CLI for the
// breaking-change check between two files.)
import { readFileSync } from 'node:fs';
import { buildClientSchema, buildSchema, getIntrospectionQuery, printSchema } from 'graphql';
import { diff } from '@graphql-inspector/core';

const [mode, left, right] = process.argv.slice(2);

function describe(changes) {
  return changes.map((c) => `  ${c.criticality.level}: ${c.message}`).join('\n');
}

async function liveSchema(url) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query: getIntrospectionQuery({ oneOf: true, inputValueDeprecation: true, specifiedByUrl: true }) }),
  });
  if (!response.ok) {
    throw new Error(`introspection answered ${response.status}`);
  }
  const body = await response.json();
  if (body.errors) {
    throw new Error(`introspection failed: ${JSON.stringify(body.errors)}`);
  }
  // Printed and parsed again, so that @oneOf is a directive on the type, as in the file.
  return buildSchema(printSchema(buildClientSchema(body.data)));
}

const fromFile = (path) => buildSchema(readFileSync(path, 'utf8'));

if (mode === 'live') {
  const changes = await diff(fromFile(right), await liveSchema(left));
  if (changes.length > 0) {
    console.error(`The live schema at ${left} differs from ${right}:\n${describe(changes)}`);
    process.exit(1);
  }
  console.log(`schema contract: the live schema at ${left} equals ${right}`);
} else {
  console.error('usage: schema-contract.mjs live <url> <schema.graphql>');
  process.exit(2);
}
