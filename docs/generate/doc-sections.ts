import { readFileSync } from 'node:fs';
import { defineProcess, purchaseProcess } from '@marketkit/core';
import { errorCodesTable } from './error-codes-table.js';
import { keyedOperationsTable } from './keyed-operations-table.js';
import { processTables } from './process-table.js';

/** One generated section: the doc (relative to docs/), its marker name, and what the code says it holds. */
export interface DocSection {
  readonly doc: string;
  readonly name: string;
  readonly render: () => string;
}

/** Every section of the docs generated from code (`npm run docs:gen` writes them; a test compares them). */
export const DOC_SECTIONS: readonly DocSection[] = [
  { doc: 'errors.md', name: 'error-codes', render: errorCodesTable },
  { doc: 'orders.md', name: 'purchase-process', render: () => processTables(defineProcess(purchaseProcess())) },
  { doc: 'idempotency.md', name: 'keyed-operations', render: keyedOperationsTable },
  { doc: 'payments.md', name: 'example-payment-provider', render: () => verbatim(EXAMPLE_PROVIDER) },
];

/** The example provider of docs/payments.md, run by docs/test/example-payment-provider.test.ts. */
const EXAMPLE_PROVIDER = '../../examples/src/payment-provider/card-processor-provider.ts';

/** A source file as a fenced TypeScript block, exactly as it is. */
function verbatim(path: string): string {
  return `\`\`\`ts\n${readFileSync(new URL(path, import.meta.url), 'utf8')}\`\`\``;
}
