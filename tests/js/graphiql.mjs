// Drives the gateway's self-hosted GraphiQL in Debian's Chromium: the schema loads into the
// docs explorer and the query-builder explorer plugin, a real test key runs the example query, the created endpoint's name shows
// in the result pane, a subscription and a live query (`@live`) stream over its WebSocket,
// and no request goes to another host or breaks the page's CSP.
//   GATEWAY_URL=http://127.0.0.1:8080 API_KEY=kros_test_… EXPECT_NAME=… SCREENSHOT=… node graphiql.mjs
import { launch } from './browser.mjs';

const gateway = new URL(process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080');
const apiKey = process.env.API_KEY;
const expectName = process.env.EXPECT_NAME;
const screenshot = process.env.SCREENSHOT ?? 'graphiql.png';
if (!apiKey || !expectName) {
  console.error('API_KEY and EXPECT_NAME are required');
  process.exit(2);
}

const browser = await launch();
const failures = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const foreign = [];
  const policyViolations = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol !== 'data:' && url.origin !== gateway.origin) {
      foreign.push(request.url());
    }
  });
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content.Security.Policy/i.test(message.text())) {
      policyViolations.push(message.text());
    }
  });
  page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));

  const response = await page.goto(new URL('/graphql', gateway).href);
  const csp = response.headers()['content-security-policy'] ?? '';
  if (!csp.includes("script-src 'self'")) {
    failures.push(`the page has no strict CSP: ${csp}`);
  }
  await page.waitForSelector('.graphiql-container', { timeout: 15000 });
  const unpinned = await page.$$eval('script[src^="/graphiql/assets/"], link[href^="/graphiql/assets/"]',
    (tags) => tags.filter((tag) => !tag.integrity.startsWith('sha384-')).map((tag) => tag.outerHTML));
  if (unpinned.length > 0) {
    failures.push(`bundles without Subresource Integrity: ${unpinned.join(' ')}`);
  }

  // The example operation and the headers placeholder are there from the start.
  const editors = await page.evaluate(() =>
    [...document.querySelectorAll('.CodeMirror')].map((e) => e.CodeMirror.getValue()),
  );
  if (!editors.some((v) => v.includes('query ListEndpoints'))) {
    failures.push('the example operation is missing');
  }
  if (!editors.some((v) => v.includes('Bearer kros_test_'))) {
    failures.push('the Authorization placeholder is missing');
  }

  // The schema loaded without a key: the docs explorer lists the root fields.
  await page.click('[aria-label="Show Documentation Explorer"]');
  await page.waitForFunction(
    () => document.querySelector('.graphiql-doc-explorer')?.innerText.includes('Query'),
    null,
    { timeout: 15000 },
  );
  await page.click('.graphiql-doc-explorer a:has-text("Query")');
  await page.waitForFunction(
    () => document.querySelector('.graphiql-doc-explorer')?.innerText.includes('endpoints'),
    null,
    { timeout: 15000 },
  );

  // The explorer plugin (the query builder) lists the root fields from the same schema, and
  // the example operation's selection shows as ticked.
  await page.click('[aria-label="Show GraphiQL Explorer"]');
  await page.waitForFunction(
    () => {
      const text = document.querySelector('.graphiql-explorer-root')?.innerText ?? '';
      return ['endpoints', 'viewer', 'apiKeys'].every((field) => text.includes(field));
    },
    null,
    { timeout: 15000 },
  );
  const operationNames = await page.$$eval('.graphiql-explorer-root input', (inputs) =>
    inputs.map((input) => input.value),
  );
  if (!operationNames.includes('ListEndpoints')) {
    failures.push(`the explorer does not show the example operation: ${operationNames.join(', ')}`);
  }
  const explorerShot = screenshot.replace(/\.png$/, '-explorer.png');
  await page.screenshot({ path: explorerShot });
  console.log(`graphiql: explorer screenshot saved to ${explorerShot}`);

  // Put the real key in the headers editor and run the example query.
  await page.evaluate((key) => {
    const editor = [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')].find(
      (e) => e.CodeMirror.getValue().includes('Authorization'),
    );
    editor.CodeMirror.setValue(JSON.stringify({ Authorization: `Bearer ${key}` }, null, 2));
  }, apiKey);
  await page.click('.graphiql-execute-button');
  await page.waitForFunction(
    (name) => document.querySelector('.graphiql-response')?.innerText.includes(name),
    expectName,
    { timeout: 15000 },
  );
  await page.screenshot({ path: screenshot });
  console.log(`graphiql: screenshot saved to ${screenshot}`);

  // A subscription runs over the page's WebSocket: start it, make a change through HTTP,
  // and see the event arrive in the result pane.
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.evaluate(() => {
    const editor = document.querySelector('.graphiql-query-editor .CodeMirror');
    editor.CodeMirror.setValue(
      'subscription Watch {\n  endpointEvents {\n    id\n    type\n    endpoint { name }\n  }\n}\n',
    );
  });
  // GraphiQL reads the operation's name from the editor a moment after it changes.
  await page.waitForTimeout(1000);
  await page.click('.graphiql-execute-button');
  const liveName = `${expectName} (live)`;
  let arrived = false;
  for (let attempt = 0; attempt < 20 && !arrived; attempt += 1) {
    // Until the subscription is surely running, each change is another chance to see one.
    const made = await fetch(new URL('/graphql', gateway), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({
        query: 'mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { userErrors { code } } }',
        variables: { input: { name: liveName, type: 'WEBHOOK', url: 'https://hooks.example.com/live' } },
      }),
    });
    if (!made.ok) {
      failures.push(`creating an endpoint failed: ${made.status}`);
      break;
    }
    arrived = await page
      .waitForFunction(
        (name) => document.querySelector('.graphiql-response')?.innerText.includes(name),
        liveName,
        { timeout: 1000 },
      )
      .then(() => true, () => false);
  }
  if (!arrived) {
    failures.push('the subscription showed no event for a change made through HTTP');
  }
  if (!sockets.some((url) => new URL(url).host === gateway.host)) {
    failures.push(`the subscription did not use this gateway's WebSocket: ${sockets.join(', ')}`);
  }
  const shot = screenshot.replace(/\.png$/, '-subscription.png');
  await page.screenshot({ path: shot });
  console.log(`graphiql: subscription screenshot saved to ${shot}`);

  // A live query streams over the same WebSocket: its list is sent again with the endpoint
  // a change through HTTP adds.
  await page.evaluate(() => {
    const editor = document.querySelector('.graphiql-query-editor .CodeMirror');
    editor.CodeMirror.setValue('query LiveList @live {\n  endpoints(first: 100) {\n    nodes { name }\n  }\n}\n');
  });
  await page.waitForTimeout(1000);
  // The subscription still runs: the button stops it first, then runs the live query.
  await page.click('.graphiql-execute-button');
  await page.waitForTimeout(500);
  await page.click('.graphiql-execute-button');
  await page
    .waitForFunction(() => document.querySelector('.graphiql-response')?.innerText.includes('"nodes"'), null, { timeout: 5000 })
    .catch(() => failures.push('the live query gave no first result'));
  const listedName = `${expectName} (live query)`;
  const listed = await fetch(new URL('/graphql', gateway), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({
      query: 'mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { userErrors { code } } }',
      variables: { input: { name: listedName, type: 'WEBHOOK', url: 'https://hooks.example.com/live' } },
    }),
  });
  if (!listed.ok) {
    failures.push(`creating an endpoint failed: ${listed.status}`);
  }
  const relisted = await page
    .waitForFunction(
      (name) => document.querySelector('.graphiql-response')?.innerText.includes(name),
      listedName,
      { timeout: 5000 },
    )
    .then(() => true, () => false);
  if (!relisted) {
    failures.push('the live query was not sent again after a change made through HTTP');
  }
  const liveShot = screenshot.replace(/\.png$/, '-live.png');
  await page.screenshot({ path: liveShot });
  console.log(`graphiql: live query screenshot saved to ${liveShot}`);

  if (foreign.length > 0) {
    failures.push(`requests left for other hosts: ${foreign.join(', ')}`);
  }
  if (policyViolations.length > 0) {
    failures.push(`CSP violations: ${policyViolations.join(' | ')}`);
  }
} catch (error) {
  failures.push(error.stack ?? String(error));
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.error(`graphiql: FAILED\n${failures.join('\n')}`);
  process.exit(1);
}
console.log('graphiql: the page works offline: schema, docs, the explorer, a real query, a live subscription, a live query, no foreign request');
