import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { wantedBackendNames } from './packages/testing/src/backends/backend-names.js';
import { soakFactor } from './packages/testing/src/property-runs.js';

// A typo in MARKETKIT_BACKENDS, MARKETKIT_SOAK or MARKETKIT_SOAK_FACTOR stops the run here, before any test runs.
wantedBackendNames();

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: '@marketkit/core', replacement: src('./packages/core/src/index.ts') },
      { find: '@marketkit/adapters/sqlite', replacement: src('./packages/adapters/src/sqlite/index.ts') },
      { find: '@marketkit/adapters/postgres', replacement: src('./packages/adapters/src/postgres/index.ts') },
      { find: '@marketkit/adapters/nats', replacement: src('./packages/adapters/src/nats/index.ts') },
      { find: '@marketkit/adapters/stripe', replacement: src('./packages/adapters/src/stripe/index.ts') },
      {
        find: '@marketkit/testing/stripe-server',
        replacement: src('./packages/testing/src/stripe-server/index.ts'),
      },
      { find: '@marketkit/testing/simulation', replacement: src('./packages/testing/src/simulation/index.ts') },
      { find: '@marketkit/testing/conformance', replacement: src('./packages/testing/src/conformance/index.ts') },
      {
        find: '@marketkit/testing/provider-conformance',
        replacement: src('./packages/testing/src/provider-conformance/index.ts'),
      },
      { find: '@marketkit/express', replacement: src('./packages/express/src/index.ts') },
      { find: '@marketkit/testing', replacement: src('./packages/testing/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/test/**/*.test.ts', 'docs/test/**/*.test.ts'],
    globalSetup: ['./packages/testing/src/postgres/vitest-global-setup.ts'],
    // A soak run makes each property test run `soakFactor()` times as long (`npm run test:soak`).
    testTimeout: soakFactor() > 1 ? 1_800_000 : 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
