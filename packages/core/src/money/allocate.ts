import { ValidationError } from '../errors/validation-error.js';

/**
 * Splits `total` minor units into shares proportional to `weights` by the largest-remainder method: every share
 * starts at the floor of its exact proportion, then the units left over go one each to the shares with the largest
 * remainders, ties going to the earlier share. The shares always sum exactly to `total`, each is within one unit of
 * its exact proportion, a zero weight always gets zero, and a negative total splits as the mirror of its absolute
 * value. Pure and exact for any bigint size.
 *
 * @param total the amount to split, in minor units.
 * @param weights non-negative integer weights with a positive sum; shares come back in the same order.
 * @throws {MarketkitError} `VALIDATION_FAILED` when `weights` is empty, has a negative weight, or sums to zero.
 * @example
 * ```ts
 * allocateMinor(100n, [1n, 1n, 1n]); // [34n, 33n, 33n]
 * allocateMinor(-5n, [1n, 1n]); // [-3n, -2n]
 * ```
 */
export function allocateMinor(total: bigint, weights: readonly bigint[]): bigint[] {
  if (weights.length === 0) {
    throw invalidRatios([], 'Cannot allocate over an empty list of ratios.');
  }
  let sum = 0n;
  for (const [index, weight] of weights.entries()) {
    if (typeof weight !== 'bigint' || weight < 0n) {
      throw invalidRatios([index], `Allocation ratio at index ${index} must be a non-negative integer weight.`);
    }
    sum += weight;
  }
  if (sum === 0n) {
    throw invalidRatios([], 'Allocation ratios must have a positive sum.');
  }

  const negative = total < 0n;
  const magnitude = negative ? -total : total;
  const shares: bigint[] = [];
  const remainders: bigint[] = [];
  let allocated = 0n;
  for (const weight of weights) {
    const scaled = magnitude * weight;
    const share = scaled / sum;
    shares.push(share);
    remainders.push(scaled % sum);
    allocated += share;
  }

  // Fewer than weights.length units are left, and at least that many shares have a non-zero remainder,
  // so a zero-weight share (remainder 0) never receives one.
  const leftover = Number(magnitude - allocated);
  const order = weights.map((_, index) => index);
  order.sort((a, b) => {
    const ra = remainders[a]!;
    const rb = remainders[b]!;
    if (ra !== rb) return ra > rb ? -1 : 1;
    return a - b;
  });
  for (const index of order.slice(0, leftover)) shares[index]! += 1n;

  return negative ? shares.map((share) => -share) : shares;
}

function invalidRatios(path: readonly number[], message: string): ValidationError {
  return new ValidationError([{ path: ['ratios', ...path], message }], message);
}
