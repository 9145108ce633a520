// Types every operation in src/ from the gateway's checked-in schema, and lists them in a
// trusted documents manifest.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['src/**/*.ts', '!src/gql/**'],
  ignoreNoDocuments: false,
  // ES module imports, with the .js extensions Node needs.
  emitLegacyCommonJSImports: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: {
        fragmentMasking: false,
        // Also writes src/gql/persisted-documents.json, the manifest of every operation here
        // by its SHA-256: a gateway started with `--trusted-documents` that file and
        // `--trusted-documents-mode enforce` runs these operations and nothing else. Each
        // document keeps its text and carries its hash (`__meta__.hash`).
        persistedDocuments: { mode: 'embedHashInDocument', hashAlgorithm: 'sha256' },
      },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { UUID: 'string', DateTime: 'string' },
      },
    },
  },
};

export default config;
