// The client matrix: each client library's scenarios, in turn, against one live gateway, and
// Relay's persisted documents against a second gateway that runs only the trusted documents
// relay-compiler wrote (`--trusted-documents relay/persisted/__generated__/trusted-documents.json
// --trusted-documents-mode enforce`).
//   GATEWAY_URL=http://127.0.0.1:8080/graphql TRUSTED_GATEWAY_URL=http://127.0.0.1:8081/graphql \
//     API_KEY=kros_test_… node clients.mjs [apollo urql relay]
//   node clients.mjs --compile-relay   (only compiles Relay's documents, writing that manifest)
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';

const all = ['apollo', 'urql', 'relay'];
const here = new URL('.', import.meta.url);

// Relay's artifacts are compiled from relay/RelayMatrix.js and relay/persisted/RelayPersisted.js
// against schema.graphql. relay-compiler adds to a persisted manifest only the documents whose
// artifacts it writes, so the persisted project is compiled afresh into an empty manifest.
function compileRelay() {
  for (const project of ['relay', 'relay/persisted']) {
    const generated = new URL(`${project}/__generated__`, here);
    if (project === 'relay/persisted') rmSync(generated, { recursive: true, force: true });
    mkdirSync(generated, { recursive: true });
    if (project === 'relay/persisted') writeFileSync(new URL('trusted-documents.json', `${generated}/`), '{}\n');
    const compiler = spawnSync('npx', ['--no-install', 'relay-compiler'], { cwd: new URL(project, here), stdio: 'inherit' });
    if (compiler.status !== 0) {
      console.error(`client matrix: relay-compiler failed in ${project}`);
      process.exit(1);
    }
  }
}

if (process.argv[2] === '--compile-relay') {
  compileRelay();
  process.exit(0);
}
const chosen = process.argv.length > 2 ? process.argv.slice(2) : all;
for (const name of chosen) {
  if (!all.includes(name)) throw new Error(`no client ${name}: one of ${all.join(', ')}`);
  if (name === 'relay') compileRelay();
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
