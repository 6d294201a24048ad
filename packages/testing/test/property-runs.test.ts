import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { propertyRuns } from '@marketkit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { soakFactor } from '../src/property-runs.js';

const VARS = ['MARKETKIT_SOAK', 'MARKETKIT_SOAK_FACTOR', 'MARKETKIT_TEST_RUNS'] as const;

describe('propertyRuns', () => {
  const saved = Object.fromEntries(VARS.map((v) => [v, process.env[v]]));
  const set = (name: string, value: string | undefined) => {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  };
  beforeEach(() => {
    for (const v of VARS) set(v, undefined);
  });
  afterEach(() => {
    for (const v of VARS) set(v, saved[v]);
  });

  it('is the base count in an ordinary run, and when MARKETKIT_SOAK is empty, 0 or false', () => {
    expect(propertyRuns(100)).toBe(100);
    for (const off of ['', '0', 'false']) {
      set('MARKETKIT_SOAK', off);
      expect(propertyRuns(100), off).toBe(100);
    }
  });

  it('is ten times the base when soaking, or the base times MARKETKIT_SOAK_FACTOR', () => {
    set('MARKETKIT_SOAK', '1');
    expect(propertyRuns(100)).toBe(1000);
    set('MARKETKIT_SOAK', 'true');
    expect(propertyRuns(100)).toBe(1000);
    set('MARKETKIT_SOAK_FACTOR', '2.5');
    expect(propertyRuns(100)).toBe(250);
    set('MARKETKIT_SOAK', undefined);
    expect(propertyRuns(15)).toBe(38);
    set('MARKETKIT_SOAK_FACTOR', '1');
    expect(propertyRuns(15)).toBe(15);
  });

  it('throws on a factor that is not a number of at least 1, rather than cutting every property to fewer runs', () => {
    for (const bad of ['abc', '-3', '0', '0.001', '0.5', 'Infinity', 'NaN', '3x', '1e3']) {
      set('MARKETKIT_SOAK_FACTOR', bad);
      expect(() => propertyRuns(40), bad).toThrow(`MARKETKIT_SOAK_FACTOR must be a number of at least 1`);
      expect(() => soakFactor(), bad).toThrow(`got '${bad}'`);
    }
  });

  it('throws on a MARKETKIT_SOAK it does not know', () => {
    for (const bad of ['yes', '2', 'on', 'TRUE ']) {
      set('MARKETKIT_SOAK', bad);
      expect(() => propertyRuns(40), bad).toThrow(`MARKETKIT_SOAK must be 1, true, 0, false or empty, got '${bad}'`);
    }
  });

  it('takes a count from the named variable, and throws when it is not a positive integer', () => {
    set('MARKETKIT_SOAK', '1');
    expect(propertyRuns(40, { env: 'MARKETKIT_TEST_RUNS' })).toBe(400);
    set('MARKETKIT_TEST_RUNS', '7');
    expect(propertyRuns(40, { env: 'MARKETKIT_TEST_RUNS' })).toBe(7);
    for (const bad of ['0', '-1', '1.5', 'abc', '1e2', ' ']) {
      set('MARKETKIT_TEST_RUNS', bad);
      expect(() => propertyRuns(40, { env: 'MARKETKIT_TEST_RUNS' }), bad).toThrow(
        `MARKETKIT_TEST_RUNS must be a positive integer (the number of runs), got '${bad}'`,
      );
    }
  });

  it('throws on a base that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => propertyRuns(bad), String(bad)).toThrow(/base/);
  });
});

const GATING = ['MARKETKIT_BACKENDS', 'MARKETKIT_SOAK', 'MARKETKIT_SOAK_FACTOR', 'MARKETKIT_OUTBOX_RUNS'];
const withoutGating = (env: NodeJS.ProcessEnv) =>
  Object.fromEntries(Object.entries(env).filter(([k]) => !GATING.includes(k)));

describe('the test run refuses bad gating variables when it loads', () => {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const run = promisify(execFile);
  // vitest itself, on a file that does not exist: the config loads (and checks the variables) before it looks.
  const vitest = (env: Record<string, string>) =>
    run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'no-such-test-file-xyz'], {
      cwd: root,
      // Only the variables under test: the run's own gating (a soak run sets MARKETKIT_SOAK_FACTOR) must not mask them.
      env: { ...withoutGating(process.env), ...env },
      timeout: 60_000,
    }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );

  it.each([
    [{ MARKETKIT_BACKENDS: 'postgress' }, 'MARKETKIT_BACKENDS must list backends among sqlite, postgres'],
    [{ MARKETKIT_BACKENDS: 'sqlite,' }, "(unknown: '')"],
    [{ MARKETKIT_SOAK_FACTOR: '0.001' }, 'MARKETKIT_SOAK_FACTOR must be a number of at least 1'],
    [{ MARKETKIT_SOAK: 'yes' }, 'MARKETKIT_SOAK must be 1, true, 0, false or empty'],
  ])('%o stops the run with a clear message', async (env, message) => {
    const { code, out } = await vitest(env);
    expect(code).not.toBe(0);
    expect(out).toContain(message);
  });

  it('accepts the variables as CI sets them (and then finds no test file)', async () => {
    const { out } = await vitest({ MARKETKIT_BACKENDS: 'sqlite, postgres', MARKETKIT_SOAK_FACTOR: '3' });
    expect(out).toContain('No test files found');
  });
});
