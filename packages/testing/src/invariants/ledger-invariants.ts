import type { Marketplace } from '@marketkit/core';

/**
 * Asserts the ledger's invariants on a live marketplace: cached balances equal the sum of transfers, each
 * currency's debits equal its credits (money is neither created nor destroyed), no flagged account is
 * overdrawn, pending amounts included. Throws an `Error` listing every problem.
 *
 * @example
 * ```ts
 * await checkLedgerInvariants(market); // in a test, or in a host app's nightly audit
 * ```
 */
export async function checkLedgerInvariants(market: Pick<Marketplace, 'ledger'>): Promise<void> {
  const result = await market.ledger.verify();
  if (!result.ok) throw new Error(`Ledger invariants broken:\n${result.problems.join('\n')}`);
}
