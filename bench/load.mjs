// One load run with autocannon: POSTs a GraphQL operation at a fixed concurrency, or at a fixed
// overall rate, and prints one JSON line: throughput, latency percentiles, failures.
// Usage: node load.mjs URL KEY QUERY VARIABLES_JSON SECONDS CONNECTIONS [RATE] [AMOUNT]
// (RATE 0: no fixed rate; AMOUNT: stop after that many requests instead of SECONDS.)
import autocannon from "autocannon";

const [url, key, query, variables, secs, conns, rate, amount] = process.argv.slice(2);
const body = JSON.stringify({ query, variables: JSON.parse(variables) });
const headers = { "content-type": "application/json", authorization: `Bearer ${key}` };
const probe = await (await fetch(url, { method: "POST", headers, body })).json();
if (probe.errors || !probe.data) {
  console.error(JSON.stringify(probe).slice(0, 400));
  process.exit(1);
}
const options = {
  url, method: "POST", headers, body, pipelining: 1,
  duration: Number(secs), connections: Number(conns),
};
if (Number(rate) > 0) options.overallRate = Number(rate);
if (Number(amount) > 0) options.amount = Number(amount);
const r = await autocannon(options);
console.log(JSON.stringify({
  rps: r.requests.average,
  total: r.requests.total,
  p50_ms: r.latency.p50,
  p90_ms: r.latency.p90,
  p99_ms: r.latency.p99,
  max_ms: r.latency.max,
  bad: r.non2xx + r.errors + r.timeouts,
}));
