import fc from 'fast-check';

/**
 * Values JSON text is written from, bigints included anywhere: what the bigint-aware writers (`encodeJson`,
 * `serializePayload`) must write exactly as `JSON.stringify` with a bigint replacer does.
 */
export const jsonWithBigInts: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.double(),
    fc.string(),
    fc.bigInt(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** `JSON.stringify` writing every bigint as its decimal text: what the fast paths must equal. */
export const bigintReplacer = (_key: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);
