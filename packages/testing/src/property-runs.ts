/** Options of {@link propertyRuns}. */
export interface PropertyRunsOptions {
  /**
   * An environment variable that, when set (and not empty), gives the run count outright instead of `base` times
   * the soak factor: a positive integer, or `propertyRuns` throws.
   */
  readonly env?: string;
}

/**
 * How many runs a property test makes: `base` in an ordinary test run, `base` times the soak factor when soaking.
 * `npm run test:soak` sets `MARKETKIT_SOAK=1`, a factor of 10; `MARKETKIT_SOAK_FACTOR=n` sets another. Size
 * `base` so the ordinary run stays quick, and let the soak run find the rarer interleavings. A value that would
 * quietly cut the runs (a factor below 1, a count of 0, a typo) throws instead, so no test proves less than asked.
 *
 * @throws {Error} when `base` is not a positive integer, or the environment holds a value `soakFactor` or
 * `options.env` does not accept.
 * @example
 * ```ts
 * import { propertyRuns } from '@marketkit/testing';
 * await fc.assert(fc.asyncProperty(fc.commands(commands), run), { numRuns: propertyRuns(100) });
 * const RUNS = propertyRuns(40, { env: 'MY_TEST_RUNS' }); // MY_TEST_RUNS=500 runs 500
 * ```
 */
export function propertyRuns(base: number, options: PropertyRunsOptions = {}): number {
  if (!Number.isSafeInteger(base) || base < 1)
    throw new Error(`propertyRuns: base must be a positive integer, got ${base}`);
  if (options.env !== undefined) {
    const raw = process.env[options.env];
    if (raw !== undefined && raw !== '') {
      if (!/^[1-9][0-9]*$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw)))
        throw new Error(`${options.env} must be a positive integer (the number of runs), got '${raw}'`);
      return Number(raw);
    }
  }
  return Math.round(base * soakFactor());
}

const SOAK_VALUES: Readonly<Record<string, boolean>> = { '': false, '0': false, false: false, '1': true, true: true };

/**
 * The soak factor {@link propertyRuns} multiplies by: `MARKETKIT_SOAK_FACTOR` when set (a number of at least 1), else
 * 10 when `MARKETKIT_SOAK` is `1` or `true`, else 1 (`MARKETKIT_SOAK` unset, empty, `0` or `false`). The repository's
 * vitest config reads it too, when it loads, to give soak runs a longer test timeout.
 *
 * @throws {Error} for a `MARKETKIT_SOAK_FACTOR` that is not a finite number of at least 1 (a factor below 1 would cut
 * every property test to fewer runs than it is sized for), and for any other `MARKETKIT_SOAK` value.
 */
export function soakFactor(): number {
  const raw = process.env['MARKETKIT_SOAK_FACTOR'];
  if (raw !== undefined && raw !== '') {
    const factor = /^\s*[0-9]+(\.[0-9]+)?\s*$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isFinite(factor) || factor < 1)
      throw new Error(
        `MARKETKIT_SOAK_FACTOR must be a number of at least 1 (it multiplies every property test's runs), got '${raw}'`,
      );
    return factor;
  }
  const soak = process.env['MARKETKIT_SOAK'];
  if (soak === undefined) return 1;
  const on = SOAK_VALUES[soak.trim()];
  if (on === undefined) throw new Error(`MARKETKIT_SOAK must be 1, true, 0, false or empty, got '${soak}'`);
  return on ? 10 : 1;
}
