// The close a real WebSocket client (the `ws` library, as graphql-ws uses in Node) is given
// when the gateway refuses a message: its code and reason arrive even when the client sent
// more right after the refused one, on both protocols (a socket closed with the client's
// messages unread is reset by the kernel, and the close frame lost: the client saw 1006).
// GATEWAY_URL (http://…/graphql) and API_KEY as for the other checks.
import WebSocket from 'ws';

const url = process.env.GATEWAY_URL.replace(/^http/, 'ws');
const key = process.env.API_KEY;

function refused(protocol) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol);
    const messages = [];
    const timer = setTimeout(() => reject(new Error(`${protocol}: no close within 5 s`)), 5000);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { 'x-api-key': key } })));
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString());
      messages.push(message);
      if (message.type !== 'connection_ack') return;
      const type = protocol === 'graphql-transport-ws' ? 'subscribe' : 'start';
      const subscribe = (id) => ws.send(JSON.stringify({ id, type, payload: { query: '{ viewer { mode } }' } }));
      subscribe('y'.repeat(1000));
      for (let n = 0; n < 4; n++) subscribe(`z${n}`);
    });
    ws.on('error', () => {});
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString(), messages });
    });
  });
}

let failed = 0;
for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
  for (let run = 0; run < 3; run++) {
    const { code, reason, messages } = await refused(protocol);
    const problems = [];
    if (code !== 4400) problems.push(`close ${code} (expected 4400)`);
    if (!reason.includes('1000 bytes long')) problems.push(`reason ${JSON.stringify(reason)}`);
    if (protocol === 'graphql-ws' && !messages.some((m) => m.type === 'connection_error')) {
      problems.push('no connection_error before the close');
    }
    if (problems.length > 0) {
      failed += 1;
      console.error(`${protocol}, run ${run + 1}: ${problems.join('; ')}`);
    }
  }
}
if (failed > 0) process.exit(1);
console.log('closes: a refused message followed by more gets its close, on both protocols (3 runs each)');
