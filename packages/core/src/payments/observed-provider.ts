import type { Observability } from '../observability/observability.js';
import { errorCode } from '../observability/tracing.js';
import type { PaymentOperation, PaymentProvider } from './payment-provider.js';

const OPS: readonly PaymentOperation[] = ['authorize', 'capture', 'void', 'refund', 'payout'];

/**
 * `provider`, with each call (authorize, capture, void, refund, payout) in a `marketkit.provider.<operation>` span and
 * counted in `marketkit_provider_calls_total` by outcome (`ok` or the error code), timed as operation `provider`.
 * Its attributes name the provider and the operation only: a request holds payment method tokens, amounts and payout
 * destinations, none of which goes into a span. The calls are passed straight on while observability is off.
 * @internal `createMarketplace` wraps the provider (outside the breaker, so fast failures count too).
 */
export function observedProvider(provider: PaymentProvider, obs: Observability): PaymentProvider {
  const observed = Object.fromEntries(
    OPS.map((op) => {
      const call = (request: never) => (provider[op] as (r: never) => Promise<unknown>).call(provider, request);
      const attributes = () => ({ 'marketkit.provider': provider.name, 'marketkit.provider.operation': op });
      return [
        op,
        (request: never) => {
          if (obs.off) return call(request);
          return obs.observe('provider', `marketkit.provider.${op}`, attributes, async () => {
            try {
              const result = await call(request);
              obs.metrics?.providerCall(op, 'ok');
              return result;
            } catch (error) {
              obs.metrics?.providerCall(op, errorCode(error));
              throw error;
            }
          });
        },
      ];
    }),
  ) as unknown as Pick<PaymentProvider, PaymentOperation>;
  return Object.freeze({
    name: provider.name,
    ...observed,
    ...(provider.listEffects === undefined ? {} : { listEffects: provider.listEffects.bind(provider) }),
    ...(provider.authorizationStatus === undefined
      ? {}
      : { authorizationStatus: provider.authorizationStatus.bind(provider) }),
  });
}
