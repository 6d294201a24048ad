// Requires every published entry point as CommonJS from the built dist/ and checks it works end to end.
const { createMarketplace, Money } = require('@marketkit/core');
const { sqliteAdapter } = require('@marketkit/adapters/sqlite');
const { postgresAdapter } = require('@marketkit/adapters/postgres');
const { ManualClock, SandboxPaymentProvider } = require('@marketkit/testing');
const { marketkitRouter, problemFor } = require('@marketkit/express');
const { stripePaymentProvider } = require('@marketkit/adapters/stripe');
const { runSimulation } = require('@marketkit/testing/simulation');
const { startStripeTestServer } = require('@marketkit/testing/stripe-server');
const Stripe = require('stripe');

(async () => {
  const market = createMarketplace({ adapter: sqliteAdapter(), clock: new ManualClock() });
  await market.migrate();
  const [r] = await market.ledger.createAccounts([{ id: 'a', currency: 'USD', code: 1 }]);
  if (r?.result !== 'ok') throw new Error('CJS: createAccounts failed');
  await market.close();
  // The provider breaker (opossum, a CommonJS dependency left external) opens and fails fast.
  const psp = new SandboxPaymentProvider();
  const guarded = createMarketplace({ adapter: sqliteAdapter(), payments: psp, providerBreaker: { threshold: 1 } });
  psp.injectFault('authorize', 'error');
  const call = { idempotencyKey: 'k', amountMinor: 1n, currency: 'USD', paymentMethod: 'tok', reference: 'r' };
  const codes = [];
  for (let i = 0; i < 2; i++) await guarded.payments.breaker.provider.authorize(call).catch((e) => codes.push(e.code));
  await guarded.close();
  if (codes.join() !== 'PROVIDER_ERROR,PROVIDER_UNAVAILABLE') throw new Error(`CJS: breaker gave ${codes.join()}`);
  if (typeof postgresAdapter !== 'function' || Money.of('1.00', 'USD').minor !== 100n) throw new Error('CJS: exports');
  if (typeof marketkitRouter !== 'function' || problemFor(new Error('x')).status !== 500)
    throw new Error('CJS: express');
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
  if (!auth.authorizationId.startsWith('pi_')) throw new Error('CJS: stripe');
  const simulated = await runSimulation({ seed: 1, runs: 3 });
  if (!simulated.ok) throw new Error(`CJS: simulation\n${simulated.report}`);
  console.log('CJS entry points OK');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
