// The client matrix: each client library's scenarios, in turn, against one live gateway.
//   GATEWAY_URL=http://127.0.0.1:8080/graphql API_KEY=kros_test_… node clients.mjs [apollo urql relay]
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const all = ['apollo', 'urql', 'relay'];
const chosen = process.argv.length > 2 ? process.argv.slice(2) : all;
const here = new URL('.', import.meta.url);
for (const name of chosen) {
  if (!all.includes(name)) throw new Error(`no client ${name}: one of ${all.join(', ')}`);
  if (name === 'relay') {
    // Relay's artifacts are compiled here from relay/RelayMatrix.js against schema.graphql.
    mkdirSync(new URL('relay/__generated__', here), { recursive: true });
    const compiler = spawnSync('npx', ['--no-install', 'relay-compiler'], { cwd: new URL('relay', here), stdio: 'inherit' });
    if (compiler.status !== 0) {
      console.error('client matrix: relay-compiler failed');
      process.exit(1);
    }
  }
  const { status } = spawnSync(process.execPath, [`clients/${name}.mjs`], {
    cwd: here,
    stdio: 'inherit',
  });
  if (status !== 0) {
    console.error(`client matrix: ${name} failed`);
    process.exit(1);
  }
}
console.log(`client matrix: ${chosen.join(', ')} passed`);
