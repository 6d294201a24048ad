import { readFileSync } from 'node:fs';
import { defineProcess, ERROR_CODES, type ErrorCode, HTTP_STATUS_BY_CODE, purchaseProcess } from '@marketkit/core';
import { describe, expect, it } from 'vitest';
import { DOC_SECTIONS } from '../generate/doc-sections.js';
import { readGeneratedSection } from '../generate/generated-section.js';

const doc = (name: string) => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');

describe('the docs generated from code', () => {
  for (const section of DOC_SECTIONS) {
    it(`keeps docs/${section.doc} section ${section.name} equal to the code (npm run docs:gen rewrites it)`, () => {
      expect(readGeneratedSection(doc(section.doc), section.name)).toBe(section.render());
    });
  }

  it('documents every error code in docs/errors.md with its retryability and HTTP status', () => {
    const rows = [
      ...readGeneratedSection(doc('errors.md'), 'error-codes').matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (yes|no) \|/gm),
    ];
    const documented = Object.fromEntries(
      rows.map(([, code, status, retryable]) => [code, [Number(status), retryable]]),
    );
    const expected = Object.fromEntries(
      (Object.keys(ERROR_CODES) as ErrorCode[]).map((c) => [
        c,
        [ERROR_CODES[c].httpStatus, ERROR_CODES[c].retryable ? 'yes' : 'no'],
      ]),
    );
    expect(documented).toEqual(expected);
  });

  it('exports the HTTP status of every code, and answers a retryable code with 409, 429 or 5xx', () => {
    expect(Object.keys(HTTP_STATUS_BY_CODE).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      expect(HTTP_STATUS_BY_CODE[code], code).toBe(ERROR_CODES[code].httpStatus);
      if (ERROR_CODES[code].retryable) expect([409, 429, 502, 503, 504], code).toContain(HTTP_STATUS_BY_CODE[code]);
    }
    expect(Object.isFrozen(HTTP_STATUS_BY_CODE)).toBe(true);
  });

  it('lists every transition of purchaseProcess() in docs/orders.md once per state it leaves, with its roles', () => {
    const rows = [
      ...readGeneratedSection(doc('orders.md'), 'purchase-process').matchAll(
        /^\| `(\w+)` \| `(\w+)` \| `(\w+)` \| ([^|]+) \|/gm,
      ),
    ].map(([, from, name, to, who]) => `${from} -${name}-> ${to}: ${who?.trim()}`);
    const process = defineProcess(purchaseProcess());
    const expected = process.transitions.flatMap((t) =>
      (typeof t.from === 'string' ? [t.from] : t.from).map(
        (from) =>
          `${from} -${t.name}-> ${t.to}: ${t.engine ? 'Marketkit only' : t.actors.map((r) => `\`${r}\``).join(', ')}`,
      ),
    );
    expect(rows.map((r) => r.replace(/ \(engine.*$|; timed.*$/, '')).sort()).toEqual(expected.sort());
  });
});
