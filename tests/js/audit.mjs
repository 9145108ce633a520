// graphql-http's server audit (GraphQL over HTTP) against a live gateway: every MUST and every
// SHOULD has to pass. Each request carries the API key, since the gateway runs only
// introspection without one.
import { serverAudits } from 'graphql-http';

const url = process.env.GATEWAY_URL;
const key = process.env.API_KEY;
if (!url || !key) throw new Error('set GATEWAY_URL (…/graphql) and API_KEY');

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
};

let failed = 0;
let passed = 0;
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  if (result.status === 'ok') {
    passed += 1;
  } else if (result.status === 'error' || result.status === 'warn') {
    failed += 1;
    console.error(`✗ ${audit.id} ${audit.name}: ${result.reason}`);
  } else {
    console.log(`- ${audit.id} ${audit.name} (${result.status}: ${result.reason})`);
  }
  if (result.response?.body && !result.response.bodyUsed) await result.response.body.cancel();
}
console.log(`graphql-http audit: ${passed} passed, ${failed} MUST/SHOULD failed`);
process.exit(failed === 0 ? 0 : 1);
