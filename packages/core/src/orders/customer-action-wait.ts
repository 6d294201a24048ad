import type { Selectable } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { Authorization } from '../payments/payment-provider.js';
import { StepNotReady } from '../sagas/step-not-ready.js';
import { toNumber } from '../storage/int64.js';
import { lockOrder } from './order-store.js';
import type { OrdersTable } from './order-tables.js';
import type { OrderTransitions } from './order-transitions.js';
import type { Actor } from './order-types.js';
import type { OrdersDeps } from './orders-deps.js';
import { AWAIT_CUSTOMER, customerActionState, customerActionWindowMs } from './process/customer-action-state.js';

/** How often the checkout saga asks the provider while the customer has not acted: from 5 s, doubling, to 60 s. */
const FIRST_POLL_MS = 5000;
const MAX_POLL_MS = 60_000;

/**
 * The checkout's side of payments that need the customer (3-D Secure): moving the order to the process's
 * customer-action state when `authorize` answers with a `customerAction`, and, each time the checkout saga runs its
 * authorize step again (polled, or woken by a provider event), asking the provider for the truth: `authorized` goes
 * on to capture; `requires_action` waits again without spending the step's retry budget ({@link StepNotReady}),
 * until the order's timeout; `failed` or `canceled` declines, and the saga's compensation cancels the order (hold
 * voided, stock released).
 * @internal
 */
export class CustomerActionWait {
  readonly #d: OrdersDeps;
  readonly #transitions: OrderTransitions;
  readonly #actor: Actor;

  constructor(deps: OrdersDeps, transitions: OrderTransitions, actor: Actor) {
    this.#d = deps;
    this.#transitions = transitions;
    this.#actor = actor;
  }

  /** The state an order waits for the customer in, if the process has one. */
  get state(): string | undefined {
    return customerActionState(this.#d.process);
  }

  /**
   * Records the authorization and the customer action on `row` (still in the initial state, with no authorization
   * and no transition in flight) and fires `awaitCustomer`, in one transaction; the reservation's expiry follows the
   * customer-action window. `false` when the order was not in that condition (nothing written). Throws
   * `CUSTOMER_ACTION_UNSUPPORTED` when the process has no customer-action state, `PROVIDER_CAPABILITY_MISSING` when
   * the provider cannot say the authorization's status: both permanent, so the saga compensates (voids the hold).
   */
  async enter(row: Selectable<OrdersTable>, auth: Authorization): Promise<boolean> {
    const state = this.state;
    if (state === undefined)
      throw new MarketkitError('CUSTOMER_ACTION_UNSUPPORTED', {
        message: `The payment of order ${row.id} needs the customer to act (3-D Secure), and process ${row.process} has no ${AWAIT_CUSTOMER} transition to wait in; its hold is voided.`,
        details: { orderId: row.id, authorizationId: auth.authorizationId, process: row.process },
      });
    if (this.#d.payments().authorizationStatus === undefined) throw missingStatus();
    const windowMs = customerActionWindowMs(this.#d.process) ?? 0;
    return this.#d.storage.transaction(async (trx) => {
      const now = this.#d.clock.now();
      const recorded = await trx
        .updateTable('orders')
        .set({ authorization_id: auth.authorizationId, customer_action: JSON.stringify(auth.customerAction) })
        .where('id', '=', row.id)
        .where('state', '=', this.#d.process.initial)
        .where('authorization_id', 'is', null)
        .where('pending_op', 'is', null)
        .executeTakeFirst();
      if (recorded.numUpdatedRows !== 1n) return false;
      const order = await lockOrder(trx, this.#d.storage.adapter.capabilities, row.id);
      await this.#transitions.fireLocked(trx, order, AWAIT_CUSTOMER, this.#actor, null, {});
      await trx
        .updateTable('stock_reservations')
        .set({ expires_at: now + windowMs, updated_at: now })
        .where('id', '=', row.reservation_id)
        .where('status', '=', 'active')
        .execute();
      return true;
    });
  }

  /**
   * Asks the provider for the status of the authorization of `row` (an order in the customer-action state) and
   * returns its id once `authorized`. Throws {@link StepNotReady} while the customer has not acted (next poll at most
   * at the order's timeout), `RESERVATION_EXPIRED` once the timeout has passed and the customer still has not acted,
   * `PAYMENT_DECLINED` when the action failed or the authorization was canceled.
   */
  async poll(row: Selectable<OrdersTable>): Promise<string> {
    const authorizationId = row.authorization_id!;
    const provider = this.#d.payments();
    if (provider.authorizationStatus === undefined) throw missingStatus();
    const status = await provider.authorizationStatus(authorizationId);
    if (status === 'authorized') return authorizationId;
    if (status === 'failed' || status === 'canceled')
      throw new MarketkitError('PAYMENT_DECLINED', {
        message: `The customer's action for order ${row.id} ${status === 'failed' ? 'failed' : 'was canceled'}; nothing can be captured.`,
        details: { operation: 'authorize' },
      });
    const now = this.#d.clock.now();
    const entered = toNumber(row.state_entered_at);
    // The order's timer cancels it at the deadline; a little later the saga gives up by itself if it did not.
    const deadline = entered + (customerActionWindowMs(this.#d.process) ?? 0) + FIRST_POLL_MS;
    if (now >= deadline)
      throw new MarketkitError('RESERVATION_EXPIRED', {
        message: `The customer did not complete the payment's action for order ${row.id} in time.`,
        details: { reservationId: row.reservation_id, expiresAt: deadline },
      });
    const delay = Math.min(MAX_POLL_MS, Math.max(FIRST_POLL_MS, now - entered));
    throw new StepNotReady(Math.min(now + delay, deadline), `order ${row.id}: the customer has not acted yet`);
  }

  /** The first wait after entering the customer-action state. */
  firstWait(orderId: string): StepNotReady {
    return new StepNotReady(this.#d.clock.now() + FIRST_POLL_MS, `order ${orderId}: waiting for the customer`);
  }
}

function missingStatus(): MarketkitError {
  return new MarketkitError('PROVIDER_CAPABILITY_MISSING', {
    message: 'The payment needs the customer to act, and the payment provider has no authorizationStatus to follow it.',
    details: { method: 'authorizationStatus' },
  });
}
