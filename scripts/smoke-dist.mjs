// Imports every published entry point as ESM from the built dist/ and checks it works end to end.

import { postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { stripePaymentProvider } from '@marketkit/adapters/stripe';
import { createMarketplace, isMarketkitError, Money } from '@marketkit/core';
import { marketkitRouter, problemFor } from '@marketkit/express';
import { ManualClock, SandboxPaymentProvider, testBackends } from '@marketkit/testing';
import { runSimulation } from '@marketkit/testing/simulation';
import { startStripeTestServer } from '@marketkit/testing/stripe-server';
import Stripe from 'stripe';

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
const stripeServer = await startStripeTestServer();
const stripe = stripePaymentProvider({ stripe: new Stripe('sk_test_smoke', stripeServer.clientConfig) });
const auth = await stripe.authorize({
  idempotencyKey: 'o:authorize',
  amountMinor: 500n,
  currency: 'JPY',
  paymentMethod: 'pm_card_visa',
  reference: 'o',
});
await stripeServer.close();
if (!auth.authorizationId.startsWith('pi_')) throw new Error('ESM: stripe');
const simulated = await runSimulation({ seed: 1, runs: 3 });
if (!simulated.ok) throw new Error(`ESM: simulation\n${simulated.report}`);
console.log('ESM entry points OK');
