import type { Clock } from '../clock/clock.js';
import { parseInput } from '../errors/validation-error.js';
import { customerActionState, customerActionWindowMs } from '../orders/process/customer-action-state.js';
import type { ProcessDefinition } from '../orders/process/process-definition.js';
import { reservationWindowMs } from '../orders/process/reservation-window.js';
import type { Storage } from '../storage/storage.js';
import {
  type CustomerActionDeps,
  type CustomerActionEvent,
  type CustomerActionOutcome,
  handleCustomerAction,
} from './customer-action-events.js';
import { loadLocalOrders, loadLocalPayouts, localWindow } from './local-payment-records.js';
import { orderPaymentKeys } from './order-payment-keys.js';
import type { PaymentEffect } from './payment-effects.js';
import { effectIdentity, effectOrderKey, matchPayments } from './payment-matching.js';
import type { PaymentProvider } from './payment-provider.js';
import {
  type PaymentReconciliation,
  type PaymentReconciliationInput,
  reconciliationInputSchema,
} from './payment-reconciliation.js';
import type { ProviderBreaker } from './provider-breaker.js';
import { ProviderEffectsReader } from './provider-effects-reader.js';

/** What {@link Payments} is built from. */
export interface PaymentsDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  /** The marketplace's provider; throws `VALIDATION_FAILED` when it was created without one. */
  readonly provider: () => PaymentProvider;
  readonly process: ProcessDefinition;
  /** The circuit breaker around the provider, when the marketplace has one. */
  readonly breaker?: ProviderBreaker;
  /** Wakes the checkout of an order waiting for the customer (`orders.wakeCheckout`). */
  readonly wakeCheckout: CustomerActionDeps['wakeCheckout'];
}

/**
 * The payment side of the marketplace: reconciliation of what Marketkit recorded (orders, their escrow
 * transfers, payouts) against what the provider says it did, and the provider's word that a customer acted on a
 * payment that needed them (`customerActionCompleted`).
 *
 * @example
 * ```ts
 * const day = 24 * 3600 * 1000;
 * const to = Math.floor(Date.now() / day) * day; // today, 00:00 UTC
 * const report = await market.payments.reconcile({ from: to - day, to });
 * for (const d of report.discrepancies) console.warn(d.kind, d.orderId ?? d.payoutId, d.amountMinor, d.message);
 * ```
 */
export class Payments {
  readonly #d: PaymentsDeps;

  constructor(deps: PaymentsDeps) {
    this.#d = deps;
  }

  /**
   * The circuit breaker around the provider (`createMarketplace({ providerBreaker })`), or `undefined` when the
   * marketplace has none: its `state`, and `on('provider.breakerOpened' | …, handler)` for its changes in this process.
   *
   * @example
   * ```ts
   * market.payments.breaker?.on('provider.breakerClosed', () => console.info('payments are back'));
   * ```
   */
  get breaker(): ProviderBreaker | undefined {
    return this.#d.breaker;
  }

  /**
   * Tells Marketkit that the customer acted on a payment that needed them (3-D Secure), or may have: call it from the
   * provider's webhook (Stripe: `payment_intent.succeeded`, `payment_intent.payment_failed`, `payment_intent.canceled`,
   * `payment_intent.amount_capturable_updated`) with the event's id, or from the page the customer returns to. It
   * wakes the order's checkout at once, which asks the provider for the authorization's status and goes on: capture
   * and confirm (the order paid, the capture in escrow) when `authorized`; cancel (hold voided, stock released) when
   * `failed` or `canceled`; wait again when `requires_action`. Without any call the checkout polls the provider by
   * itself, so the event only makes it faster.
   *
   * Idempotent per `eventId` (per provider): a duplicate does nothing and says so. An event late (the order paid or
   * cancelled already), twice, or out of order (a failure after a success) changes nothing the provider's status does
   * not: nothing is captured unless the provider says `authorized`, and never twice. `VALIDATION_FAILED` unless the
   * event names exactly one of `authorizationId` and `orderId`.
   *
   * @example
   * ```ts
   * // in the host's Stripe webhook handler, after verifying the signature:
   * if (event.type.startsWith('payment_intent.'))
   *   await market.payments.customerActionCompleted({ authorizationId: event.data.object.id, eventId: event.id, type: event.type });
   * ```
   */
  async customerActionCompleted(event: CustomerActionEvent): Promise<CustomerActionOutcome> {
    return handleCustomerAction(
      {
        storage: this.#d.storage,
        clock: this.#d.clock,
        providerName: () => this.#d.provider().name,
        wakeCheckout: this.#d.wakeCheckout,
      },
      event,
    );
  }

  /**
   * Compares the provider's effects made in `[from, to)` with Marketkit's records, and Marketkit's records made in
   * the window with the provider's effects (looked up by their keys, whenever made), and reports every capture,
   * refund or payout on one side and not the other or with another amount, every authorization still open at the
   * provider whose order is terminal (or missing, or older than the reservation window), and every order paid or
   * later without a capture id. Reads only; changes nothing.
   *
   * Throws `VALIDATION_FAILED` on a bad window, and `PROVIDER_CAPABILITY_MISSING` when the provider has no
   * `listEffects`. Effects still in flight when it runs (a checkout between its capture and its commit) show up as
   * discrepancies: reconcile a window that closed longer ago than the reservation window.
   *
   * @example
   * ```ts
   * const report = await market.payments.reconcile({ from: Date.parse('2026-03-01'), to: Date.parse('2026-03-02') });
   * if (!report.ok) alertOps(report.discrepancies);
   * ```
   */
  async reconcile(input: PaymentReconciliationInput): Promise<PaymentReconciliation> {
    const { from, to, pageSize = 100, provider } = parseInput(reconciliationInputSchema, input, 'reconciliation');
    const reader = new ProviderEffectsReader(provider ?? this.#d.provider(), pageSize);
    const asOf = this.#d.clock.now();
    const windowEffects = await reader.inWindow(from, to);
    const orderIds = new Set<string>();
    const payoutIds = new Set<string>();
    for (const e of windowEffects) {
      if (e.type === 'payout') payoutIds.add(e.idempotencyKey);
      else {
        const key = effectOrderKey(e);
        if (key !== undefined) orderIds.add(key.orderId);
      }
    }
    const local = await this.#d.storage.snapshot(async (trx) => {
      const window = await localWindow(trx, from, to);
      for (const id of window.orderIds) orderIds.add(id);
      for (const id of window.payoutIds) payoutIds.add(id);
      return {
        orders: await loadLocalOrders(trx, [...orderIds], captureTransitions(this.#d.process)),
        payouts: await loadLocalPayouts(trx, [...payoutIds]),
      };
    });
    const effects = new Map(windowEffects.map((e) => [effectIdentity(e), e]));
    const lookup = async (keys: Iterable<string>) => {
      const known = new Set([...effects.values()].map((e) => e.idempotencyKey));
      const wanted = [...new Set(keys)].filter((k) => !known.has(k));
      for (const e of await reader.byKeys(wanted)) effects.set(effectIdentity(e), e);
    };
    await lookup(this.#baseKeys(orderIds, payoutIds, local.orders));
    await lookup(this.#compensatingKeys([...effects.values()], local.orders));
    const discrepancies = matchPayments({
      from,
      to,
      asOf,
      reservationMs: reservationWindowMs(this.#d.process),
      ...this.#customerAction(),
      terminalStates: new Set(
        Object.entries(this.#d.process.states)
          .filter(([, s]) => s.terminal)
          .map(([n]) => n),
      ),
      effects: [...effects.values()],
      inWindow: new Set(windowEffects.map(effectIdentity)),
      orderIds,
      payoutIds,
      orders: local.orders,
      payouts: local.payouts,
    });
    const count = (type: PaymentEffect['type']) => windowEffects.filter((e) => e.type === type).length;
    return {
      ok: discrepancies.length === 0,
      from,
      to,
      asOf,
      checked: {
        authorizations: count('authorization'),
        captures: count('capture'),
        refunds: count('refund'),
        payouts: count('payout'),
        orders: local.orders.size,
        localPayouts: local.payouts.size,
        pages: reader.pages,
      },
      discrepancies,
    };
  }

  /** An order waiting for the customer (3-D Secure) may hold its authorization that much longer. */
  #customerAction(): { customerAction?: { state: string; windowMs: number } } {
    const state = customerActionState(this.#d.process);
    const windowMs = customerActionWindowMs(this.#d.process);
    return state === undefined || windowMs === undefined ? {} : { customerAction: { state, windowMs } };
  }

  /** The keys of the effects each compared order and payout should have at the provider. */
  *#baseKeys(
    orderIds: ReadonlySet<string>,
    payoutIds: ReadonlySet<string>,
    orders: ReadonlyMap<string, { readonly refunds: ReadonlyMap<number, unknown> }>,
  ): Generator<string> {
    for (const id of orderIds) {
      yield orderPaymentKeys.authorize(id);
      yield orderPaymentKeys.capture(id);
      for (const seq of orders.get(id)?.refunds.keys() ?? []) yield* orderPaymentKeys.refunds(id, seq);
    }
    yield* payoutIds;
  }

  /** For each capture the order did not record: the keys of refunds that may have given it back. */
  *#compensatingKeys(
    effects: readonly PaymentEffect[],
    orders: ReadonlyMap<string, { readonly capture: unknown; readonly maxSeq: number }>,
  ): Generator<string> {
    for (const e of effects) {
      const key = e.type === 'capture' ? effectOrderKey(e) : undefined;
      if (key?.step !== 'capture') continue;
      const order = orders.get(key.orderId);
      if (order?.capture === undefined) yield* orderPaymentKeys.compensatingRefunds(key.orderId, order?.maxSeq ?? 1);
    }
  }
}

/** The transitions that capture into escrow: an order moved by one is paid (or later). */
function captureTransitions(process: ProcessDefinition): string[] {
  return process.transitions.filter((t) => t.effects.includes('captureToEscrow')).map((t) => t.name);
}
