/** Reads a 64-bit integer column as `bigint`, whatever the driver handed back (bigint, string or number). */
export function toBigInt(value: bigint | number | string): bigint {
  return typeof value === 'bigint' ? value : BigInt(value);
}

/** Reads a 64-bit integer column that holds a small value (a timestamp, a code, flags) as `number`. */
export function toNumber(value: bigint | number | string): number {
  return typeof value === 'number' ? value : Number(value);
}
