import type { Selectable } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { PreparedClaim } from '../idempotency/idempotency-types.js';
import { encodeJson } from '../jobs/json-column.js';
import { LeaseKeeper } from '../jobs/lease-keeper.js';
import { activeTraceparent } from '../observability/tracing.js';
import type { SagaDefinition } from '../sagas/saga-definition.js';
import { sagaLastError } from '../sagas/saga-error.js';
import type { SagaRunOutcome } from '../sagas/saga-runner.js';
import { type ClaimedSaga, renewSagaLease, type StepLogInput } from '../sagas/saga-store.js';
import { toNumber } from '../storage/int64.js';
import { CHECKOUT_SAGA, type CheckoutSagaInput, checkoutSaga, checkoutSagaId } from './checkout-saga.js';
import { CheckoutSagaWork, PAYMENTS } from './checkout-saga-work.js';
import { CheckoutStatements, type ConfirmSagaWrite } from './checkout-statements.js';
import { CheckoutSteps } from './checkout-steps.js';
import type { OnCommit } from './on-commit.js';
import type { ParsedCheckout } from './order-schemas.js';
import { readOrder, sameOrder } from './order-store.js';
import type { OrdersTable } from './order-tables.js';
import type { OrderTransitions } from './order-transitions.js';
import type { Order } from './order-types.js';
import type { OrdersDeps } from './orders-deps.js';
import { customerActionState } from './process/customer-action-state.js';
import type { ProcessTransition } from './process/process-definition.js';

/** The step-log entry of a completed step, as the saga runner writes it. */
type Completed = Omit<StepLogInput, 'worker'>;
const completed = (stepIndex: number, stepName: string, detail: unknown): Completed => ({
  stepIndex,
  stepName,
  phase: 'run',
  outcome: 'completed',
  attempt: 1,
  detail,
});

/**
 * A checkout as the `marketkit.checkout` saga ({@link checkoutSaga}, whose steps {@link CheckoutSagaWork} does): the
 * hot path a caller waits for. That path writes what the saga runner would, from the two compiled transactions: the
 * create-order statement inserts the saga (order step done, under this caller's lease) with the order; authorize
 * and capture are called with keys derived from the order; the confirm statement completes the saga with the
 * payment. Anything off that path (a provider failure, a guard that fails, another stock strategy) is handed to the
 * saga runner at the step where it happened, so retries, backoff and compensation are the saga engine's.
 * @internal `Orders.checkout` is the public face.
 */
export class CheckoutFlow {
  readonly #d: OrdersDeps;
  readonly #transitions: OrderTransitions;
  /** Checkout's two write transactions compiled: one statement each (writable CTEs) or templated steps. */
  readonly #compiled: CheckoutStatements | CheckoutSteps;
  /** The saga's steps, with the hooks and results of the checkouts this process runs inline. */
  readonly #work: CheckoutSagaWork;
  /** The saga the marketplace registers, so any worker can finish a checkout. */
  readonly sagaDefinition: SagaDefinition;

  constructor(deps: OrdersDeps, transitions: OrderTransitions) {
    this.#d = deps;
    this.#transitions = transitions;
    this.#compiled = deps.storage.adapter.capabilities.writableCtes
      ? new CheckoutStatements(deps)
      : new CheckoutSteps(deps);
    this.#work = new CheckoutSagaWork(deps, transitions);
    this.sagaDefinition = checkoutSaga(this.#work);
  }

  /**
   * Creates order `orderId` and takes it through payment as its checkout saga, in this process. A retried checkout
   * (the saga exists) returns the order once it left checkout, goes on with the saga if no one holds it, and
   * otherwise throws `CONCURRENCY_CONFLICT` (retryable).
   */
  async run(orderId: string, p: ParsedCheckout, onCommit?: OnCommit): Promise<Order> {
    return (await this.#run(orderId, p, onCommit, undefined))!;
  }

  /** Whether the create-order statement can claim an idempotency key itself ({@link runClaimed}). */
  get claimsKeys(): boolean {
    return this.#d.stockStrategy === 'guardedUpdate';
  }

  /**
   * {@link run}, with the idempotency key claimed by the create-order statement itself: `undefined` when that
   * statement wrote nothing (the key has a record, or a guard failed), and then nothing was claimed or written.
   */
  async runClaimed(orderId: string, p: ParsedCheckout, claim: PreparedClaim, onCommit: OnCommit) {
    return this.#run(orderId, p, onCommit, claim);
  }

  async #run(
    orderId: string,
    p: ParsedCheckout,
    onCommit: OnCommit | undefined,
    claim: PreparedClaim | undefined,
  ): Promise<Order | undefined> {
    const input: CheckoutSagaInput = {
      orderId,
      buyerId: p.buyerId,
      listingId: p.listingId,
      quantity: p.quantity,
      paymentMethod: p.paymentMethod,
    };
    const sagaId = checkoutSagaId(orderId);
    const owner = this.#d.ids('inline');
    // One caller per order in this process lends its hook (a second, concurrent one cannot own the saga anyway).
    const lends = !this.#work.hooks.has(sagaId) && onCommit !== undefined;
    if (lends) this.#work.hooks.set(sagaId, onCommit);
    const waiting = this.#work.waiting;
    waiting.set(sagaId, (waiting.get(sagaId) ?? 0) + 1);
    try {
      const row = await this.#createCompiled(input, sagaId, owner, claim);
      if (row !== undefined) return await this.#pay(row, input, sagaId, owner, onCommit);
      if (claim !== undefined) return undefined;
      const outcome = await this.#d.sagas().run(CHECKOUT_SAGA, input, {
        id: sagaId,
        leaseMs: this.#d.pendingOpTimeoutMs,
        inlineOnly: true,
        ...renewing(onCommit),
      });
      if (outcome === 'released') {
        // The saga exists: a retry of this checkout, unless the order id names another request (IDEMPOTENCY_KEY_REUSED).
        await this.#d.storage.run((db) => sameOrder(db, orderId, p));
        return await this.#retried(orderId, sagaId, owner, onCommit);
      }
      return await this.#settle(outcome, orderId, sagaId);
    } finally {
      if (lends) this.#work.hooks.delete(sagaId);
      this.#work.results.delete(sagaId);
      const left = (waiting.get(sagaId) ?? 1) - 1;
      if (left > 0) waiting.set(sagaId, left);
      else waiting.delete(sagaId);
    }
  }

  /**
   * The hot path after the compiled create: authorize, capture, then the compiled confirm, which completes the
   * saga. Where a step fails, or the confirm statement's guards do, the saga runner takes over at that step.
   */
  async #pay(
    row: Selectable<OrdersTable>,
    input: CheckoutSagaInput,
    sagaId: string,
    owner: string,
    onCommit: OnCommit | undefined,
  ): Promise<Order> {
    const done: Completed[] = [];
    const outputs: Record<string, unknown> = { order: null };
    const handOver = (stepIndex: number, error?: unknown) =>
      this.#handOver({ input, sagaId, owner, stepIndex, outputs, done, error, onCommit });
    // The provider calls may outlast the lease: renew it (and the key's lock) while they run, as a worker does, so
    // that no worker or retry runs this checkout at the same time.
    const keeper = this.#keeper(sagaId, owner, onCommit);
    let authorizationId: string;
    let captureId: string;
    try {
      try {
        authorizationId = await this.#work.authorizeRow(row);
      } catch (error) {
        return handOver(1, error); // the keeper stops (finally) as the saga runner, with a keeper of its own, starts
      }
      outputs['authorize'] = { authorizationId };
      done.push(completed(1, 'authorize', outputs['authorize']));
      try {
        captureId = await this.#work.captureRow(row, authorizationId);
      } catch (error) {
        return handOver(2, error);
      }
    } finally {
      keeper.stop();
    }
    outputs['capture'] = { captureId };
    done.push(completed(2, 'capture', outputs['capture']));
    const confirmed = await this.#confirmCompiled(
      { ...row, authorization_id: authorizationId },
      captureId,
      onCommit,
      this.#completion(sagaId, owner, outputs, done),
    );
    return confirmed ?? handOver(3);
  }

  /** Renews the inline run's saga lease (the saga as the create inserted it: version 1) and the key's lock. */
  #keeper(sagaId: string, owner: string, onCommit: OnCommit | undefined): LeaseKeeper {
    const { storage, clock, pendingOpTimeoutMs: leaseMs } = this.#d;
    const renew = async () => {
      const until = clock.now() + leaseMs;
      const held = await renewSagaLease(storage, sagaId, 1n, owner, until);
      if (held) await onCommit?.renew(until).catch(() => false);
      return held;
    };
    return new LeaseKeeper(renew, leaseMs, `checkout ${sagaId}`);
  }

  /** The saga's completion, as the compiled confirm writes it: done, lease released, the steps since `order` logged. */
  #completion(
    sagaId: string,
    owner: string,
    outputs: Record<string, unknown>,
    done: readonly Completed[],
  ): ConfirmSagaWrite {
    const entries = [...done, completed(3, 'confirm', null)];
    return {
      id: sagaId,
      version: 1n,
      progress: {
        status: 'completed',
        stepIndex: 4,
        outputs: { ...outputs, confirm: null },
        attempts: 0,
        lastError: null,
        lease: { nextRunAt: null },
      },
      log: entries.map((entry) => ({ id: this.#d.ids('sst'), entry: { ...entry, worker: owner } })),
    };
  }

  /** Runs the rest of the saga from `stepIndex` under this caller's lease (the saga as the create inserted it). */
  async #handOver(h: {
    readonly input: CheckoutSagaInput;
    readonly sagaId: string;
    readonly owner: string;
    readonly stepIndex: number;
    readonly outputs: Readonly<Record<string, unknown>>;
    readonly done: readonly Completed[];
    readonly error?: unknown;
    readonly onCommit: OnCommit | undefined;
  }): Promise<Order> {
    const claimed: ClaimedSaga = {
      id: h.sagaId,
      name: CHECKOUT_SAGA,
      status: 'running',
      stepIndex: h.stepIndex,
      input: h.input,
      outputs: h.outputs,
      attempts: 0,
      version: 1n,
    };
    const outcome = await this.#d.sagas().execute(claimed, {
      owner: h.owner,
      leaseMs: this.#d.pendingOpTimeoutMs,
      isStopping: () => false,
      unlogged: h.done,
      ...(h.error === undefined ? {} : { failure: { error: h.error } }),
      ...renewing(h.onCommit),
    });
    return this.#settle(outcome, h.input.orderId, h.sagaId);
  }

  /**
   * A checkout whose saga exists: the order if the checkout paid it; the error the checkout ended on if it left
   * checkout otherwise (a replay never turns a failed checkout into a returned order); else the saga goes on here if
   * no one holds it.
   */
  async #retried(orderId: string, sagaId: string, owner: string, onCommit: OnCommit | undefined): Promise<Order> {
    const order = await this.#read(orderId);
    if (order !== undefined && order.captureId !== null) return order;
    // Waiting for the customer: the order, with the action to hand to the payment page; the saga waits on its own.
    if (order !== undefined && order.state === customerActionState(this.#d.process)) return order;
    if (order !== undefined && order.state !== this.#d.process.initial) return this.#failed(orderId, sagaId);
    const claimed = await this.#d.sagas().claimOne(sagaId, owner, this.#d.pendingOpTimeoutMs);
    if (claimed === undefined) {
      const saga = await this.#d.sagas().get(sagaId);
      if (saga === undefined || saga.status === 'running' || saga.status === 'compensating')
        throw inProgress(orderId, sagaId);
      // It ended since the order was read (then the order shows how), or it is parked for an operator.
      const now = await this.#read(orderId);
      if (now !== undefined && now.captureId !== null) return now;
      if (saga.status === 'compensated') return this.#failed(orderId, sagaId);
      throw sagaLastError(saga);
    }
    const outcome = await this.#d.sagas().execute(claimed, {
      owner,
      leaseMs: this.#d.pendingOpTimeoutMs,
      isStopping: () => false,
      ...renewing(onCommit),
    });
    return this.#settle(outcome, orderId, sagaId);
  }

  /** The order a finished run left, or the error the saga stopped on. */
  async #settle(outcome: SagaRunOutcome, orderId: string, sagaId: string): Promise<Order> {
    if (outcome === 'completed') return this.#work.results.get(sagaId) ?? (await this.#read(orderId))!;
    const saga = await this.#d.sagas().get(sagaId);
    if (outcome === 'waiting') {
      // The saga waits for the customer (3-D Secure): the host gets the order with the action to hand on.
      const order = await this.#read(orderId);
      if (order !== undefined && (order.captureId !== null || order.state === customerActionState(this.#d.process)))
        return order;
      throw inProgress(orderId, sagaId);
    }
    if (outcome === 'lease-lost' || outcome === 'released' || saga === undefined) {
      const order = await this.#read(orderId);
      if (order !== undefined && order.captureId !== null) return order;
      throw inProgress(orderId, sagaId);
    }
    if (saga.status === 'compensated') return this.#failed(orderId, sagaId);
    throw sagaLastError(saga);
  }

  /**
   * The create-order transaction where stock is taken by a guarded update: one statement where the backend has
   * writable CTEs, templated steps in one transaction elsewhere; `undefined` when it wrote nothing (the generic
   * transaction then decides, and explains).
   */
  async #createCompiled(
    input: CheckoutSagaInput,
    sagaId: string,
    owner: string,
    claim: PreparedClaim | undefined,
  ): Promise<Selectable<OrdersTable> | undefined> {
    if (!this.claimsKeys) return;
    const now = this.#d.clock.now();
    return this.#compiled.createOrder({
      ...input,
      process: `${this.#d.process.name}@${this.#d.process.version}`,
      state: this.#d.process.initial,
      reservationMs: this.#work.reservationMs(),
      now,
      saga: {
        start: {
          id: sagaId,
          name: CHECKOUT_SAGA,
          input: encodeJson(input),
          owner,
          leaseMs: this.#d.pendingOpTimeoutMs,
          traceContext: activeTraceparent(),
        },
        progress: {
          status: 'running',
          stepIndex: 1,
          outputs: { order: null },
          attempts: 0,
          lastError: null,
          lease: 'keep',
        },
        log: [{ id: this.#d.ids('sst'), entry: { ...completed(0, 'order', null), worker: owner } }],
      },
      ...(claim === undefined
        ? {}
        : { claim: { query: (p, db) => this.#d.idempotency.claimQuery(p, db), values: claim.values } }),
    });
  }

  /**
   * The confirm-payment transaction, with the saga's completion, as one statement where the backend has writable
   * CTEs, templated steps in one transaction elsewhere; `undefined` when it changed nothing (the order moved on, the
   * saga was taken over, the transition is not one it compiles, …: the saga's confirm step then decides).
   */
  async #confirmCompiled(
    order: Selectable<OrdersTable>,
    captureId: string,
    onCommit: OnCommit | undefined,
    saga: ConfirmSagaWrite,
  ): Promise<Order | undefined> {
    let transition: ProcessTransition;
    try {
      transition = this.#transitions.authorize(order, 'confirmPayment', PAYMENTS);
    } catch {
      return undefined;
    }
    const done = await this.#compiled.confirm({
      order,
      transition,
      actor: PAYMENTS,
      captureId,
      now: this.#d.clock.now(),
      saga,
      ...(onCommit === undefined ? {} : { complete: onCommit.statement }),
    });
    if (done !== undefined) onCommit?.committed(done);
    return done;
  }

  /**
   * The error of a checkout that ended without paying its order (the order left checkout unpaid, its saga
   * compensated): the final error its saga stopped on (a decline, say); else, when the saga gave up on a provider
   * that kept failing, or had not yet learned the order moved on, why the order left checkout: `RESERVATION_EXPIRED`
   * when its timer cancelled it, `INVALID_TRANSITION` when a party did. Never a retryable error: retrying cannot
   * pay a cancelled order, and the outcome is stored under the caller's key.
   */
  async #failed(orderId: string, sagaId: string): Promise<never> {
    const saga = await this.#d.sagas().get(sagaId);
    if (saga !== undefined && saga.status !== 'running' && saga.lastError !== null) {
      const error = sagaLastError(saga);
      if (!error.retryable) throw error;
    }
    const last = await this.#d.storage.run((db) =>
      db
        .selectFrom('order_events')
        .select(['transition', 'from_state', 'to_state'])
        .where('order_id', '=', orderId)
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirstOrThrow(),
    );
    if (this.#d.process.transitions.some((t) => t.name === last.transition && t.afterMs !== undefined)) {
      const hold = await this.#d.storage.run((db) =>
        db
          .selectFrom('stock_reservations')
          .select(['id', 'expires_at'])
          .where('order_id', '=', orderId)
          .executeTakeFirst(),
      );
      throw new MarketkitError('RESERVATION_EXPIRED', {
        message: `The reservation of order ${orderId} expired before its payment went through; the order is ${last.to_state}.`,
        details: { reservationId: hold?.id ?? `${orderId}:rsv`, expiresAt: toNumber(hold?.expires_at ?? 0) },
      });
    }
    throw new MarketkitError('INVALID_TRANSITION', {
      message: `Order ${orderId} left checkout (${last.transition}, now ${last.to_state}) before its payment went through.`,
      details: { resource: 'order', id: orderId, state: last.to_state, transition: 'confirmPayment' },
    });
  }

  /**
   * Wakes the checkout of `orderId` (waiting for the customer, or cancelled by its timeout while its saga waited):
   * runs its saga here, now, if it is live and no one holds it (the authorize step asks the provider, then captures
   * and confirms, or the saga compensates); returns the order as it then stands. A paid order is returned as it is.
   * `undefined` when the order does not exist.
   */
  async wake(orderId: string): Promise<Order | undefined> {
    const order = await this.#read(orderId);
    if (order === undefined || order.captureId !== null) return order;
    const sagaId = checkoutSagaId(orderId);
    const owner = this.#d.ids('wake');
    const claimed = await this.#d.sagas().claimOne(sagaId, owner, this.#d.pendingOpTimeoutMs);
    if (claimed === undefined) return order; // running elsewhere now, and that run asks the provider itself
    await this.#d.sagas().execute(claimed, { owner, leaseMs: this.#d.pendingOpTimeoutMs, isStopping: () => false });
    return this.#read(orderId);
  }

  async #read(orderId: string): Promise<Order | undefined> {
    return this.#d.storage.run((db) => readOrder(db, orderId));
  }
}

/** A checkout another caller or a worker is running now. */
function inProgress(orderId: string, sagaId: string): MarketkitError {
  return new MarketkitError('CONCURRENCY_CONFLICT', {
    message: `The checkout of order ${orderId} is running elsewhere; retry shortly.`,
    details: { reason: 'busy', resource: 'order', id: orderId, operation: 'checkout', sagaId },
  });
}

/** The saga run option that renews the caller's idempotency key along with the run's lease, when there is a key. */
function renewing(onCommit: OnCommit | undefined): { onRenew?: (until: number) => Promise<unknown> } {
  return onCommit === undefined ? {} : { onRenew: onCommit.renew };
}
