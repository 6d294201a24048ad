/**
 * What an npm user writes first, checked by scripts/check-consumer.mjs against the packed tarballs: copied into a
 * scratch project as `program.mts` (ESM) and `program.cts` (CommonJS), type-checked under every module mode
 * (strict, `skipLibCheck: false`), then run with node; it prints the lines in `expected-output.txt`.
 * Written once for both module systems: no top-level await, no `import.meta`, no `require`.
 */
import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import {
  createMarketplace,
  hasErrorCode,
  isMarketkitError,
  isReplayed,
  type MarketkitError,
  Money,
  type Order,
  type RoundingMode,
  toDecimalRounding,
} from '@marketkit/core';
import { ManualClock, SandboxPaymentProvider } from '@marketkit/testing';

async function main(): Promise<string[]> {
  const out: string[] = [];
  const psp = new SandboxPaymentProvider();
  const market = createMarketplace({
    adapter: sqliteAdapter(),
    clock: new ManualClock(),
    payments: psp,
    commission: { kind: 'percentage', percent: '10' },
  });
  try {
    await market.migrate();

    await market.ledger.createAccounts([
      { id: 'clearing', currency: 'USD', code: 1 },
      { id: 'wallet:ann', currency: 'USD', code: 2, flags: { debitsMustNotExceedCredits: true } },
    ]);
    const [transfer] = await market.ledger.createTransfers([
      { id: 'top-up-1', debitAccountId: 'clearing', creditAccountId: 'wallet:ann', amount: 2_500n, currency: 'USD' },
    ]);
    const wallet = await market.ledger.getAccount('wallet:ann');
    out.push(`transfer: ${transfer?.result ?? 'none'}, wallet credits ${wallet?.creditsPosted ?? 0n}`);

    const lamp = await market.listings.create({
      sellerId: 'bob',
      title: 'Brass lamp',
      price: Money.of('40.00', 'USD'),
      quantity: 2,
    });
    const request = {
      buyerId: 'ann',
      listingId: lamp.id,
      quantity: 1,
      paymentMethod: 'tok_visa',
      idempotencyKey: 'ann-cart-1',
    } as const;
    const order: Order = await market.orders.checkout(request);
    const again = await market.orders.checkout(request);
    out.push(
      `checkout: ${order.state} ${order.amount.format()}, replayed ${isReplayed(order)} then ${isReplayed(again)}`,
    );
    out.push(`same order: ${again.id === order.id}, captures ${psp.effects().counts.capture}`);

    try {
      await market.orders.checkout({ buyerId: 'cid', listingId: lamp.id, quantity: 5, paymentMethod: 'tok_visa' });
      out.push('oversold: no error');
    } catch (e) {
      if (hasErrorCode(e, 'INSUFFICIENT_STOCK')) out.push(`oversold: ${e.code} wanted ${e.details.wanted}`);
      else throw e;
    }
    try {
      await market.orders.checkout({ buyerId: 'dan', listingId: lamp.id, quantity: 1, paymentMethod: 'tok_decline' });
      out.push('declined: no error');
    } catch (e) {
      if (!isMarketkitError(e)) throw e;
      const error: MarketkitError = e;
      out.push(
        `declined: ${error.code} retryable ${error.retryable}` +
          (hasErrorCode(error, 'PAYMENT_DECLINED') ? ` in ${error.details.operation}` : ''),
      );
    }

    const mode: RoundingMode = 'halfEven';
    const decimalRounding: number = toDecimalRounding(mode);
    out.push(
      `money: ${Money.of('10.00', 'USD').percentage('12.345', mode).toString()}, decimal.js mode ${decimalRounding}`,
    );
    out.push(`postgres adapter: ${typeof postgresAdapter}`);
  } finally {
    await market.close();
  }
  return out;
}

main().then(
  (lines) => {
    for (const line of lines) console.log(line);
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
