import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests run against the TypeScript sources; the build (tsc -b) is what ships.
export default defineConfig({
  resolve: {
    alias: {
      '@bng/api': pkg('api'),
      '@bng/protocols': pkg('protocols'),
      '@bng/datapath': pkg('datapath'),
      '@bng/testkit': pkg('testkit'),
      '@bng/nexus': pkg('nexus'),
      '@bng/bng': pkg('bng'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
