import { ANALYTICS_LIMITS, DAY_MS } from './analytics-limits.js';
import type { DaySum, EscrowSpan, FlowSums, ReportScope } from './analytics-queries.js';
import type { DailyFigures, DailyIncidents } from './analytics-types.js';
import { decimalRatio } from './decimal-ratio.js';

/** Everything the queries read for one report. */
export interface ReportData {
  readonly flows: FlowSums;
  readonly disputes: readonly DaySum[];
  readonly escrow: readonly DaySum[];
  readonly spans: readonly EscrowSpan[];
  readonly payoutsRequested: readonly DaySum[];
  readonly payoutsSettled: readonly DaySum[];
}

const key = (day: number, currency: string) => `${day}/${currency}`;
const byKey = (rows: readonly DaySum[]) => new Map(rows.map((r) => [key(r.day, r.currency), r]));
const rate = (amount: bigint, gmv: bigint) => decimalRatio(amount, gmv, ANALYTICS_LIMITS.ratePlaces);

/** Sum of `rows` in `currency` on days before `day` (days since the epoch). */
function sumBefore(rows: readonly DaySum[], currency: string, day: number): bigint {
  let sum = 0n;
  for (const r of rows) if (r.currency === currency && r.day < day) sum += r.total;
  return sum;
}

/** Age at `end` of the oldest escrow captured before `end` and not yet emptied then; `spans` oldest first. */
function oldestAge(spans: readonly EscrowSpan[], end: number): number | null {
  for (const s of spans) {
    if (s.capturedAt >= end) return null;
    if (s.emptiedAt === null || s.emptiedAt >= end) return end - s.capturedAt;
  }
  return null;
}

/**
 * Assembles the figures of every day of `scope` and currency that had activity: a flow (capture, commission, refund,
 * dispute, escrow movement, payout requested or settled) that day, or money still in escrow or in pending payouts at
 * its end. Ordered by day, then currency.
 */
export function dailyFigures(scope: ReportScope, data: ReportData): DailyFigures[] {
  const sources = [
    data.flows.captures,
    data.flows.commission,
    data.flows.refunds,
    data.flows.commissionRefunds,
    data.disputes,
    data.escrow,
    data.payoutsRequested,
    data.payoutsSettled,
  ];
  const currencies = [...new Set(sources.flatMap((rows) => rows.map((r) => r.currency)))].sort();
  const [captures, commission, refunds, commissionRefunds, disputes, escrow, requested, settled] = sources.map(byKey);
  const out: DailyFigures[] = [];
  const firstDay = scope.from / DAY_MS;
  const lastDay = scope.to / DAY_MS;
  for (const currency of currencies) {
    const spans = data.spans.filter((x) => x.currency === currency).sort((x, y) => x.capturedAt - y.capturedAt);
    let escrowHeld = sumBefore(data.escrow, currency, firstDay);
    let pending =
      sumBefore(data.payoutsRequested, currency, firstDay) - sumBefore(data.payoutsSettled, currency, firstDay);
    for (let day = firstDay; day < lastDay; day += 1) {
      const at = (rows: Map<string, DaySum> | undefined) => rows?.get(key(day, currency));
      escrowHeld += at(escrow)?.total ?? 0n;
      pending += (at(requested)?.total ?? 0n) - (at(settled)?.total ?? 0n);
      const active = [captures, commission, refunds, commissionRefunds, disputes, escrow, requested, settled].some(
        (rows) => (at(rows)?.count ?? 0) > 0,
      );
      if (!active && escrowHeld === 0n && pending === 0n) continue;
      const gmv = at(captures)?.total ?? 0n;
      const fee = at(commission)?.total ?? 0n;
      const feeBack = at(commissionRefunds)?.total ?? 0n;
      const incidents = (row: DaySum | undefined): DailyIncidents => ({
        count: row?.count ?? 0,
        amount: row?.total ?? 0n,
        rate: rate(row?.total ?? 0n, gmv),
      });
      const end = (day + 1) * DAY_MS;
      out.push({
        day: new Date(day * DAY_MS).toISOString().slice(0, 10),
        currency,
        gmv,
        paidOrders: at(captures)?.count ?? 0,
        commission: fee,
        takeRate: rate(fee, gmv),
        commissionRefunded: feeBack,
        netRevenue: fee - feeBack,
        refunds: incidents(at(refunds)),
        disputes: incidents(at(disputes)),
        escrowOutstanding: escrowHeld,
        escrowOldestAgeMs: oldestAge(spans, end),
        payoutsPending: pending,
      });
    }
  }
  return out.sort((a, b) => (a.day === b.day ? (a.currency < b.currency ? -1 : 1) : a.day < b.day ? -1 : 1));
}
