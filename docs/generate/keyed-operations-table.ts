import { KEYED_OPERATIONS } from '@marketkit/core';
import { markdownTable } from './generated-section.js';

/** The operations keys are stored under, read from `KEYED_OPERATIONS`, for docs/idempotency.md. */
export function keyedOperationsTable(): string {
  return markdownTable(
    ['call', 'operation the key is stored under', '`actor` the key is scoped to'],
    KEYED_OPERATIONS.map((o) => [
      `\`${o.call}\``,
      `\`${o.operation}\``,
      o.note === undefined ? o.actor : `${o.actor} (${o.note})`,
    ]),
  );
}
