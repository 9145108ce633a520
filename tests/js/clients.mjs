// The client matrix: each client library's scenarios, in turn, against one live gateway.
//   GATEWAY_URL=http://127.0.0.1:8080/graphql API_KEY=kros_test_… node clients.mjs [apollo urql relay]
import { spawnSync } from 'node:child_process';

const all = ['apollo', 'urql'];
const chosen = process.argv.length > 2 ? process.argv.slice(2) : all;
for (const name of chosen) {
  if (!all.includes(name)) throw new Error(`no client ${name}: one of ${all.join(', ')}`);
  const { status } = spawnSync(process.execPath, [`clients/${name}.mjs`], {
    cwd: new URL('.', import.meta.url),
    stdio: 'inherit',
  });
  if (status !== 0) {
    console.error(`client matrix: ${name} failed`);
    process.exit(1);
  }
}
console.log(`client matrix: ${chosen.join(', ')} passed`);
