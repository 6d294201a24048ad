import type {
  DailyFigures,
  Marketplace,
  OutboxBacklog,
  PaymentReconciliation,
  ProviderBreakerState,
  SagaInfo,
  StuckCheckout,
  WebhookDelivery,
} from '@marketkit/core';
import { problemFor } from '../problem.js';

/** One panel's data, or why it could not be read (the problem's code and its public detail, never internals). */
export type PanelRead<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** Deliveries of outgoing webhooks that wait or gave up; lists stop at {@link WEBHOOK_LIST_CAP}. */
export interface WebhookBacklog {
  readonly pending: readonly WebhookDelivery[];
  readonly failed: readonly WebhookDelivery[];
}

/** The payment provider's breaker, as far as this process knows it. */
export type BreakerView =
  | { readonly configured: false }
  | {
      readonly configured: true;
      readonly provider: string;
      readonly state: ProviderBreakerState;
      readonly resetTimeoutMs: number;
      readonly threshold: number;
      readonly errorPercentage: number;
    };

/** Everything the console shows, read at `asOf`. */
export interface ConsoleState {
  readonly asOf: number;
  readonly sagas: PanelRead<readonly SagaInfo[]>;
  readonly stuck: PanelRead<readonly StuckCheckout[]>;
  readonly outbox: PanelRead<OutboxBacklog>;
  readonly webhooks: PanelRead<WebhookBacklog>;
  readonly breaker: BreakerView;
  /** `undefined` when reconciliation is turned off. */
  readonly reconciliation: PanelRead<PaymentReconciliation> | undefined;
  /** `market.analytics.daily` over the chart's days. */
  readonly daily: PanelRead<readonly DailyFigures[]>;
  readonly chartDays: number;
}

/** What {@link readConsoleState} needs beyond the marketplace. */
export interface ConsoleReadOptions {
  readonly now: number;
  /** Days of charts, ending today (UTC). */
  readonly chartDays: number;
  /** The reconciled window `[now - settleMs - windowMs, now - settleMs)`, or `false`. */
  readonly reconciliation: { readonly windowMs: number; readonly settleMs: number } | false;
}

/** The most rows a list of the console reads. */
export const CONSOLE_LIST_CAP = 100;
/** The most webhook deliveries of one status the console reads. */
export const WEBHOOK_LIST_CAP = 500;

const DAY_MS = 86_400_000;

async function settle<T>(read: () => Promise<T>): Promise<PanelRead<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (error) {
    const p = problemFor(error);
    return { ok: false, code: p.code, message: p.detail };
  }
}

function breakerView(market: Marketplace): BreakerView {
  const breaker = market.payments.breaker;
  if (breaker === undefined) return { configured: false };
  const o = breaker.options;
  return {
    configured: true,
    provider: breaker.provider.name,
    state: breaker.state,
    resetTimeoutMs: o.resetTimeoutMs,
    threshold: o.threshold,
    errorPercentage: o.errorPercentage,
  };
}

/** Reads every panel at once; a panel whose read fails says why and the others still show. */
export async function readConsoleState(market: Marketplace, o: ConsoleReadOptions): Promise<ConsoleState> {
  const today = Math.floor(o.now / DAY_MS) * DAY_MS;
  const rec = o.reconciliation;
  const [sagas, stuck, outbox, webhooks, reconciliation, figures] = await Promise.all([
    settle(() => market.sagas.listFailed({ limit: CONSOLE_LIST_CAP })),
    settle(() => market.orders.stuckCheckouts({ limit: CONSOLE_LIST_CAP })),
    settle(() => market.events.backlog()),
    settle(async () => ({
      pending: await market.webhooks.listDeliveries({ status: 'pending', limit: WEBHOOK_LIST_CAP }),
      failed: await market.webhooks.listDeliveries({ status: 'failed', limit: WEBHOOK_LIST_CAP }),
    })),
    rec === false
      ? undefined
      : settle(() =>
          market.payments.reconcile({ from: o.now - rec.settleMs - rec.windowMs, to: o.now - rec.settleMs }),
        ),
    settle(() =>
      market.analytics.daily({ from: new Date(today - (o.chartDays - 1) * DAY_MS), to: new Date(today + DAY_MS) }),
    ),
  ]);
  return {
    asOf: o.now,
    sagas,
    stuck,
    outbox,
    webhooks,
    breaker: breakerView(market),
    reconciliation,
    daily: figures,
    chartDays: o.chartDays,
  };
}
