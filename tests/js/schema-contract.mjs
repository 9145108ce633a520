// The schema contract, checked against a running gateway:
//   node schema-contract.mjs live <gateway-url> <schema.graphql>
//     the live schema (introspection, @oneOf included) must equal schema.graphql;
//   node schema-contract.mjs breaking <previous.graphql> <schema.graphql> [<commit message>]
//     breaking changes fail unless the commit message says "BREAKING:".
import { readFileSync } from 'node:fs';
import { buildClientSchema, buildSchema, getIntrospectionQuery, printSchema } from 'graphql';
import { CriticalityLevel, diff } from '@graphql-inspector/core';

const [mode, left, right, message = ''] = process.argv.slice(2);

function describe(changes) {
  return changes.map((c) => `  ${c.criticality.level}: ${c.message}`).join('\n');
}

async function liveSchema(url) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query: getIntrospectionQuery({ oneOf: true, inputValueDeprecation: true }) }),
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
} else if (mode === 'breaking') {
  const changes = await diff(fromFile(left), fromFile(right));
  const breaking = changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking);
  if (changes.length > 0) {
    console.log(`schema changes since the previous commit:\n${describe(changes)}`);
  }
  if (breaking.length > 0 && !message.includes('BREAKING:')) {
    console.error(`${breaking.length} breaking change(s); say "BREAKING:" in the commit message if they are meant.`);
    process.exit(1);
  }
  console.log(`schema contract: ${breaking.length} breaking change(s)${breaking.length ? ', announced with BREAKING:' : ''}`);
} else {
  console.error('usage: schema-contract.mjs live <url> <schema.graphql> | breaking <old.graphql> <new.graphql> [message]');
  process.exit(2);
}
