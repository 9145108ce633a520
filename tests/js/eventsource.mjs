// A browser's EventSource on a stream ticket, in Debian's Chromium: a page of the gateway's own
// origin (GraphiQL at /graphql, so no CORS) mints a ticket with fetch (`createStreamTicket`),
// opens `new EventSource(url)` on it, and receives the `next` event of an endpoint created
// meanwhile (its data carries the endpoint, `lastEventId` the cursor); the spent ticket's URL
// opened again fails (an EventSource error, and 401 UNAUTHENTICATED to fetch).
//   GATEWAY_URL=http://127.0.0.1:8080 API_KEY=kros_test_… node eventsource.mjs
import { launch } from './browser.mjs';

const gateway = new URL(process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080');
const apiKey = process.env.API_KEY;
if (!apiKey) {
  console.error('API_KEY is required');
  process.exit(2);
}

const browser = await launch();
let outcome;
try {
  const page = await browser.newPage();
  await page.goto(new URL('/graphql', gateway).href, { waitUntil: 'domcontentloaded' });
  outcome = await page.evaluate(async ({ apiKey, name }) => {
    const within = (ms, what, promise) =>
      Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);
    const graphql = async (query, variables) => {
      const response = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = await response.json();
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    };
    // From the newest event on, so the stream can't miss the create however soon it opens.
    const latest = await graphql('{ events(first: 1) { edges { cursor } } }');
    const after = latest.events.edges[0]?.cursor ?? null;
    const minted = await graphql(
      'mutation($input: CreateStreamTicketInput!) { createStreamTicket(input: $input) { ticket expiresAt url userErrors { code } } }',
      {
        input: {
          query: 'subscription Created($after: String) { endpointEvents(after: $after, filter: { types: [ENDPOINT_CREATED] }) { type endpointId endpoint { id name } } }',
          operationName: 'Created',
          variables: { after },
        },
      },
    );
    const { url, ticket, userErrors } = minted.createStreamTicket;
    if (userErrors.length) throw new Error(`createStreamTicket: ${JSON.stringify(userErrors)}`);

    const source = new EventSource(url);
    const event = within(10_000, 'the created endpoint over the EventSource', new Promise((resolve, reject) => {
      source.addEventListener('next', (message) => {
        const result = JSON.parse(message.data);
        if (result.data?.endpointEvents.endpoint?.name === name) resolve({ result, lastEventId: message.lastEventId });
      });
      source.addEventListener('error', () => reject(new Error(`the EventSource failed (readyState ${source.readyState})`)));
    }));
    const created = await graphql(
      'mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } userErrors { code } } }',
      { input: { name, type: 'WEBHOOK', url: 'https://hooks.example.com/eventsource' } },
    );
    const received = await event;
    source.close();

    // The same URL again: its ticket is spent, so the EventSource errs and closes.
    const again = new EventSource(url);
    const reopened = await within(5_000, 'the spent ticket refused', new Promise((resolve) => {
      again.addEventListener('next', () => resolve('a next event'));
      again.addEventListener('error', () => resolve(again.readyState === EventSource.CLOSED ? 'closed' : `readyState ${again.readyState}`));
    }));
    again.close();
    const refusal = await fetch(url, { headers: { accept: 'text/event-stream' } });
    return {
      ticket: typeof ticket === 'string' && ticket.length > 0,
      url,
      created: created.createEndpoint.endpoint.id,
      received,
      reopened,
      refusal: { status: refusal.status, code: (await refusal.json()).errors?.[0]?.extensions?.code },
    };
  }, { apiKey, name: `EventSource e2e ${Date.now().toString(36)}` });
} finally {
  await browser.close();
}

const failures = [];
const { received } = outcome;
if (!outcome.ticket || !outcome.url.startsWith('/graphql?') || !outcome.url.includes('ticket=')) failures.push(`the minted ticket or its URL: ${outcome.url}`);
if (received.result.data.endpointEvents.type !== 'ENDPOINT_CREATED') failures.push(`the event's type: ${JSON.stringify(received.result)}`);
if (received.result.data.endpointEvents.endpointId !== outcome.created) failures.push(`the event names ${received.result.data.endpointEvents.endpointId}, not ${outcome.created}`);
if (!received.lastEventId) failures.push('the event has no lastEventId');
if (outcome.reopened !== 'closed') failures.push(`the spent ticket reopened: ${outcome.reopened}`);
if (outcome.refusal.status !== 401 || outcome.refusal.code !== 'UNAUTHENTICATED') failures.push(`the spent ticket fetched again: ${JSON.stringify(outcome.refusal)}`);
if (failures.length > 0) {
  console.error(`eventsource: FAILED\n${failures.join('\n')}`);
  process.exit(1);
}
console.log(`eventsource: a stream ticket opened one EventSource, which received the created endpoint (lastEventId ${received.lastEventId}); its URL opened again was refused`);
