import { readFileSync } from 'node:fs';
import { ERROR_CODES, type ErrorCode, isStorableError, MarketkitError, STORED_UNDER_KEY } from '@marketkit/core';
import { describe, expect, it } from 'vitest';

/** The table between the `stored-under-key` markers of docs/idempotency.md, as code → stored. */
function documented(): Record<string, boolean> {
  const text = readFileSync(new URL('../../../../docs/idempotency.md', import.meta.url), 'utf8');
  const block = /<!-- stored-under-key:start -->([\s\S]*?)<!-- stored-under-key:end -->/.exec(text)?.[1] ?? '';
  const rows = [...block.matchAll(/^\| `([A-Z_]+)` \| (yes|no) \|$/gm)];
  return Object.fromEntries(rows.map(([, code, stored]) => [code, stored === 'yes']));
}

describe('what an idempotency key stores', () => {
  it('documents every error code in docs/idempotency.md exactly as STORED_UNDER_KEY decides it', () => {
    expect(documented()).toEqual({ ...STORED_UNDER_KEY });
    expect(Object.keys(STORED_UNDER_KEY).sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('stores exactly the non-retryable codes the table marks as stored', () => {
    // Built untyped: the test only needs each code with its own retryability, not its details.
    const Untyped = MarketkitError as unknown as new (code: ErrorCode, options: object) => MarketkitError;
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const error = new Untyped(code, { details: {} });
      expect(isStorableError(error), code).toBe(STORED_UNDER_KEY[code] && !ERROR_CODES[code].retryable);
      if (STORED_UNDER_KEY[code])
        expect(ERROR_CODES[code].retryable, `${code} is stored, so never retryable`).toBe(false);
    }
  });
});
