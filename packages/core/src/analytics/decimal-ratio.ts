/**
 * `numerator / denominator` as a decimal string with `places` decimals, rounded half-even, computed on bigints (no
 * float); `'0'` when the denominator is 0.
 */
export function decimalRatio(numerator: bigint, denominator: bigint, places: number): string {
  if (denominator === 0n) return '0';
  const negative = numerator < 0n !== denominator < 0n && numerator !== 0n;
  const n = numerator < 0n ? -numerator : numerator;
  const d = denominator < 0n ? -denominator : denominator;
  const scale = 10n ** BigInt(places);
  let q = (n * scale) / d;
  const twice = 2n * ((n * scale) % d);
  if (twice > d || (twice === d && q % 2n === 1n)) q += 1n;
  const whole = (q / scale).toString();
  const fraction = places === 0 ? '' : `.${(q % scale).toString().padStart(places, '0')}`;
  return `${negative && q !== 0n ? '-' : ''}${whole}${fraction}`;
}
