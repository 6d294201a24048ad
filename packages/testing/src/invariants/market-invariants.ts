import type { Marketplace, PaymentProvider } from '@marketkit/core';

/** Options of {@link checkMarketInvariants}. */
export interface MarketInvariantsOptions {
  /**
   * Also reconcile the marketplace's records against this provider's (`market.payments.reconcile`, over all time
   * up to `market`'s clock): every capture, refund and payout on both sides, no authorization left open. The
   * provider must implement `listEffects` (the sandbox does).
   */
  readonly provider?: PaymentProvider;
}

/**
 * Asserts every invariant Marketkit guarantees on a live marketplace: the ledger balances (money is neither
 * created nor destroyed, no flagged account overdrawn, cached balances equal the transfers), stock is conserved,
 * escrow closes (terminal orders hold nothing; each captured minor unit went to exactly one of seller,
 * platform and buyer), every checkout saga agrees with its order (no completed checkout without its capture, no
 * order left in checkout by a saga that ended, no paid order without a capture id) and, given the provider, that
 * the provider's records reconcile with the marketplace's. Throws an `Error` listing every problem.
 *
 * @example
 * ```ts
 * await checkMarketInvariants(market); // after a test, or in a host app's nightly audit
 * await checkMarketInvariants(market, { provider: psp }); // and reconcile against the provider
 * ```
 */
export async function checkMarketInvariants(
  market: Pick<Marketplace, 'ledger' | 'listings' | 'orders'> & Partial<Pick<Marketplace, 'payments'>>,
  options: MarketInvariantsOptions = {},
): Promise<void> {
  const [ledger, stock, escrow, checkouts] = [
    await market.ledger.verify(),
    await market.listings.verifyStock(),
    await market.orders.verifyEscrow(),
    await market.orders.verifyCheckouts(),
  ];
  const problems = [...ledger.problems, ...stock.problems, ...escrow.problems, ...checkouts.problems];
  if (options.provider !== undefined) {
    if (market.payments === undefined) throw new Error('checkMarketInvariants: reconciling needs market.payments');
    const report = await market.payments.reconcile({ from: 0, to: 8_640_000_000_000_000, provider: options.provider });
    problems.push(...report.discrepancies.map((d) => `payments ${d.kind}: ${d.message}`));
  }
  if (problems.length > 0) throw new Error(`Marketplace invariants broken:\n${problems.join('\n')}`);
}
