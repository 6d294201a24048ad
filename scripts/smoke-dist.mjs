// Imports every published entry point as ESM from the built dist/ and checks it works end to end.

import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createMarketplace, isMarketkitError, Money } from '@marketkit/core';
import { marketkitRouter, problemFor } from '@marketkit/express';
import { ManualClock, SandboxPaymentProvider, testBackends } from '@marketkit/testing';

const market = createMarketplace({ adapter: sqliteAdapter(), clock: new ManualClock() });
await market.migrate();
const [r] = await market.ledger.createAccounts([{ id: 'a', currency: 'USD', code: 1 }]);
if (r?.result !== 'ok') throw new Error('ESM: createAccounts failed');
await market.close();
// The provider breaker (opossum, a CommonJS dependency left external) opens and fails fast.
const psp = new SandboxPaymentProvider();
const guarded = createMarketplace({ adapter: sqliteAdapter(), payments: psp, providerBreaker: { threshold: 1 } });
psp.injectFault('authorize', 'error');
const call = { idempotencyKey: 'k', amountMinor: 1n, currency: 'USD', paymentMethod: 'tok', reference: 'r' };
const codes = [];
for (let i = 0; i < 2; i++) await guarded.payments.breaker.provider.authorize(call).catch((e) => codes.push(e.code));
await guarded.close();
if (codes.join() !== 'PROVIDER_ERROR,PROVIDER_UNAVAILABLE') throw new Error(`ESM: breaker gave ${codes.join()}`);
if (typeof postgresAdapter !== 'function' || testBackends().length === 0) throw new Error('ESM: exports missing');
if (typeof marketkitRouter !== 'function' || problemFor(new Error('x')).status !== 500) throw new Error('ESM: express');
try {
  Money.of('1.001', 'USD');
} catch (e) {
  if (!isMarketkitError(e)) throw new Error('ESM: error is not branded');
}
console.log('ESM entry points OK');
