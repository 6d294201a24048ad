// The model of the analytics property test: what the test did, as dated records, and the daily figures computed from
// them with the test's own arithmetic (no query, no decimalRatio).

/** One money fact the test caused, at the clock time it happened. */
export interface ModelRecord {
  readonly at: number;
  readonly currency: string;
  readonly kind: 'capture' | 'refund' | 'release' | 'commission' | 'dispute' | 'payoutRequested' | 'payoutSettled';
  readonly amount: bigint;
  /** The order whose escrow moved (captures, refunds, releases, commission). */
  readonly orderId?: string;
}

/** What the model expects of one day and currency (rates are checked separately, see {@link checkRate}). */
export interface ExpectedDay {
  day: string;
  currency: string;
  gmv: bigint;
  paidOrders: number;
  commission: bigint;
  netRevenue: bigint;
  refunds: { count: number; amount: bigint };
  disputes: { count: number; amount: bigint };
  escrowOutstanding: bigint;
  escrowOldestAgeMs: number | null;
  payoutsPending: bigint;
}

const DAY = 24 * 3600 * 1000;

/** Figures for each day in [from, to) and currency with a record that day or money held at its end. */
export function expectedDays(records: readonly ModelRecord[], from: number, to: number): ExpectedDay[] {
  const out: ExpectedDay[] = [];
  const currencies = [...new Set(records.map((r) => r.currency))].sort();
  for (let start = from; start < to; start += DAY) {
    const end = start + DAY;
    for (const currency of currencies) {
      const mine = records.filter((r) => r.currency === currency);
      const today = mine.filter((r) => r.at >= start && r.at < end);
      const before = mine.filter((r) => r.at < end);
      const of = (kind: ModelRecord['kind']) => today.filter((r) => r.kind === kind);
      const sum = (rs: readonly ModelRecord[]) => rs.reduce((s, r) => s + r.amount, 0n);
      const held = new Map<string, { capturedAt: number; balance: bigint }>();
      for (const r of before) {
        if (r.orderId === undefined) continue;
        if (r.kind === 'capture') held.set(r.orderId, { capturedAt: r.at, balance: r.amount });
        else {
          const h = held.get(r.orderId);
          if (h !== undefined) h.balance -= r.amount;
        }
      }
      const open = [...held.values()].filter((h) => h.balance > 0n);
      const escrow = open.reduce((s, h) => s + h.balance, 0n);
      const pending =
        sum(before.filter((r) => r.kind === 'payoutRequested')) - sum(before.filter((r) => r.kind === 'payoutSettled'));
      if (today.length === 0 && escrow === 0n && pending === 0n) continue;
      out.push({
        day: new Date(start).toISOString().slice(0, 10),
        currency,
        gmv: sum(of('capture')),
        paidOrders: of('capture').length,
        commission: sum(of('commission')),
        netRevenue: sum(of('commission')),
        refunds: { count: of('refund').length, amount: sum(of('refund')) },
        disputes: { count: of('dispute').length, amount: sum(of('dispute')) },
        escrowOutstanding: escrow,
        escrowOldestAgeMs: open.length === 0 ? null : end - Math.min(...open.map((h) => h.capturedAt)),
        payoutsPending: pending,
      });
    }
  }
  return out;
}

/**
 * Checks that `rate` is `amount / base` to 4 places, rounded half to even: `rate` × 10^4 is the integer nearest to
 * `amount × 10^4 / base`, the even one on a tie; `'0'` when `base` is 0.
 */
export function checkRate(rate: string, amount: bigint, base: bigint): boolean {
  if (base === 0n) return rate === '0';
  const match = /^(\d+)\.(\d{4})$/.exec(rate);
  if (match === null) return false;
  const units = BigInt(match[1] ?? '') * 10_000n + BigInt(match[2] ?? '');
  const gap = units * base - amount * 10_000n; // (rate - exact) × base × 10^4
  const twice = 2n * (gap < 0n ? -gap : gap);
  return twice < base || (twice === base && units % 2n === 0n);
}
