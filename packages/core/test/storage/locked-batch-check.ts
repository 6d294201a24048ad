import type { RecordedStatement } from '../tenancy/tenancy-checks.js';

/**
 * A `select … for update skip locked` (with its LIMIT) written as the subquery of an `IN (…)`: PostgreSQL may rescan
 * such a subquery once per candidate row, and each rescan skips other locked rows, so the statement can claim more
 * than its limit (and rows it never meant to). A batch that locks belongs in a CTE, which runs once.
 */
const LOCKING_IN_SUBQUERY = /\bin\s*\(\s*select\b(?:[^()]|\([^()]*\))*?\bfor\s+update\s+skip\s+locked\b/i;

/** Each distinct recorded text that locks a batch inside an `IN (…)` subquery instead of a CTE. */
export function lockedBatchViolations(statements: readonly RecordedStatement[]): string[] {
  return [...new Set(statements.map((s) => s.sql))]
    .filter((text) => LOCKING_IN_SUBQUERY.test(text))
    .map((text) => `locks a batch in an IN subquery (rescannable): ${text.slice(0, 160)}`);
}
