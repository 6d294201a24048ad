/**
 * The main job at this stage, on an embedded SQLite file: a buyer pays in, the payment is held with a pending
 * transfer, part is posted to the seller and part to the platform as commission, another hold is voided, and
 * the ledger's invariants are checked. Run with `npm run demo`.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { type Account, createMarketplace, Money } from '@marketkit/core';
import { runMarketplaceDemo } from './marketplace-demo.js';

const file = join(tmpdir(), `marketkit-demo-${process.pid}.db`);
const market = createMarketplace({ adapter: sqliteAdapter({ filename: file }) });
const usd = (minor: bigint) => Money.fromMinor(minor, 'USD').format();

async function main(): Promise<void> {
  const applied = await market.migrate();
  console.log(`SQLite database ${file}: applied ${applied.applied.join(', ')}`);

  await market.ledger.createAccounts([
    { id: 'provider:clearing', currency: 'USD', code: 100, ownerId: 'payment-provider' },
    { id: 'buyer:alice', currency: 'USD', code: 200, ownerId: 'alice', flags: { debitsMustNotExceedCredits: true } },
    { id: 'seller:bob', currency: 'USD', code: 300, ownerId: 'bob', flags: { debitsMustNotExceedCredits: true } },
    {
      id: 'platform:fees',
      currency: 'USD',
      code: 400,
      ownerId: 'platform',
      flags: { debitsMustNotExceedCredits: true },
    },
  ]);

  const price = Money.of('120.00', 'USD');
  const [commission, sellerShare] = split(price, '12.5');
  const steps = await market.ledger.createTransfers([
    // money enters through the provider's clearing account
    {
      id: 'pay-in-1',
      debitAccountId: 'provider:clearing',
      creditAccountId: 'buyer:alice',
      amount: 200_00n,
      currency: 'USD',
    },
    // hold the order's price (two-phase: reserved, not yet moved)
    {
      id: 'hold-order-1',
      debitAccountId: 'buyer:alice',
      creditAccountId: 'seller:bob',
      amount: price.minor,
      currency: 'USD',
      flags: { pending: true },
      timeoutSeconds: 7 * 24 * 3600,
    },
    {
      id: 'hold-order-2',
      debitAccountId: 'buyer:alice',
      creditAccountId: 'seller:bob',
      amount: 50_00n,
      currency: 'USD',
      flags: { pending: true },
    },
  ]);
  report('pay in and hold', steps);

  // Release order 1: the seller's share and the commission commit together (linked) or not at all.
  const settle = await market.ledger.createTransfers([
    {
      id: 'post-order-1',
      pendingId: 'hold-order-1',
      amount: sellerShare.minor,
      flags: { postPending: true, linked: true },
    },
    {
      id: 'fee-order-1',
      debitAccountId: 'buyer:alice',
      creditAccountId: 'platform:fees',
      amount: commission.minor,
      currency: 'USD',
      reference: 'order-1',
    },
    // order 2 is cancelled: its hold is voided and the buyer's funds are free again
    { id: 'void-order-2', pendingId: 'hold-order-2', flags: { voidPending: true } },
  ]);
  report('settle', settle);

  const replay = await market.ledger.createTransfers([
    {
      id: 'pay-in-1',
      debitAccountId: 'provider:clearing',
      creditAccountId: 'buyer:alice',
      amount: 200_00n,
      currency: 'USD',
    },
  ]);
  report('replay of pay-in-1 (idempotent)', replay);

  const accounts = await market.ledger.getAccounts(['provider:clearing', 'buyer:alice', 'seller:bob', 'platform:fees']);
  console.log('\nbalances (credits - debits, posted; pending shown separately)');
  for (const a of accounts)
    console.log(
      `  ${a.id.padEnd(18)} ${usd(balance(a)).padStart(12)}   pending ${usd(a.creditsPending - a.debitsPending)}`,
    );

  const check = await market.ledger.verify();
  console.log(`\ninvariants: ${check.ok ? 'OK' : 'BROKEN'}`);
  for (const t of check.totals)
    console.log(`  ${t.currency}: debits ${usd(t.debitsPosted)} = credits ${usd(t.creditsPosted)}`);
  for (const p of check.problems) console.log(`  problem: ${p}`);
  if (!check.ok) process.exitCode = 1;
  await market.close();
  await runMarketplaceDemo(join(tmpdir(), `marketkit-demo-market-${process.pid}.db`));
}

/** Commission at `percent`, rounded half-even; the seller gets exactly the rest. */
function split(price: Money, percent: string): [Money, Money] {
  const commission = price.percentage(percent, 'halfEven');
  return [commission, price.subtract(commission)];
}

function balance(a: Account): bigint {
  return a.creditsPosted - a.debitsPosted;
}

function report(step: string, results: readonly { id: string; result: string }[]): void {
  console.log(`${step}: ${results.map((r) => `${r.id}=${r.result}`).join(', ')}`);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const f of [file, join(tmpdir(), `marketkit-demo-market-${process.pid}.db`)]) {
      rmSync(f, { force: true });
      rmSync(`${f}-wal`, { force: true });
      rmSync(`${f}-shm`, { force: true });
    }
  });
