import {
  type AnyMarketkitError,
  ERROR_CODES,
  ERROR_DETAILS_SCHEMAS,
  type ErrorCode,
  type ErrorDetails,
  MarketkitError,
} from '@marketkit/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';

// Type-level: a code added to ERROR_CODES without a shape fails `tsc` here (and in error-details.ts).
const shapes = ERROR_DETAILS_SCHEMAS satisfies Record<ErrorCode, z.ZodType>;

describe('error details shapes', () => {
  it('declares exactly one details schema for every code in ERROR_CODES, and nothing else', () => {
    expect(Object.keys(shapes).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      expect(typeof ERROR_DETAILS_SCHEMAS[code]?.safeParse, code).toBe('function');
    }
  });

  it('types details by code, and narrows them on `code`', () => {
    expectTypeOf<Exclude<ErrorCode, keyof typeof ERROR_DETAILS_SCHEMAS>>().toEqualTypeOf<never>();
    expectTypeOf<ErrorDetails<'NOT_FOUND'>>().toEqualTypeOf<Readonly<{ resource: string; id: string }>>();
    const e = new MarketkitError('NOT_FOUND', { details: { resource: 'order', id: 'o1' } }) as AnyMarketkitError;
    if (e.code === 'NOT_FOUND') expectTypeOf(e.details.id).toEqualTypeOf<string>();
    // @ts-expect-error a details field the code's shape does not declare
    void new MarketkitError('NOT_FOUND', { details: { resource: 'order', id: 'o1', orderId: 'o1' } });
    // @ts-expect-error a code whose shape has required fields needs its details
    void new MarketkitError('NOT_FOUND');
    // @ts-expect-error a union of codes cannot be checked against one shape
    void new MarketkitError(Math.random() > 0.5 ? 'NOT_FOUND' : 'INTERNAL', { details: { resource: 'o', id: 'o' } });
    expect(ERROR_DETAILS_SCHEMAS.NOT_FOUND.safeParse({ resource: 'order', id: 'o1', extra: 1 }).success).toBe(false);
  });
});
