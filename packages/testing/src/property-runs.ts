/**
 * How many runs a property test makes: `base` in an ordinary test run, `base` times the soak factor when soaking.
 * `npm run test:soak` sets `MARKETKIT_SOAK=1`, a factor of 10; `MARKETKIT_SOAK_FACTOR=n` sets another. Size
 * `base` so the ordinary run stays quick, and let the soak run find the rarer interleavings.
 *
 * @example
 * ```ts
 * import { propertyRuns } from '@marketkit/testing';
 * await fc.assert(fc.asyncProperty(fc.commands(commands), run), { numRuns: propertyRuns(100) });
 * ```
 */
export function propertyRuns(base: number): number {
  return Math.max(1, Math.round(base * soakFactor()));
}

/**
 * The soak factor {@link propertyRuns} multiplies by: a positive `MARKETKIT_SOAK_FACTOR`, else 10 when
 * `MARKETKIT_SOAK` is set (and not empty or `0`), else 1. The repository's vitest config reads it too, to give soak
 * runs a longer test timeout.
 */
export function soakFactor(): number {
  const factor = Number(process.env['MARKETKIT_SOAK_FACTOR']);
  if (Number.isFinite(factor) && factor > 0) return factor;
  const soak = process.env['MARKETKIT_SOAK'];
  return soak !== undefined && soak !== '' && soak !== '0' ? 10 : 1;
}
