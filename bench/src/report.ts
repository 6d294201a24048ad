/**
 * Plain-text tables for benchmark output: every figure printed beside its baseline from the same run, and the
 * ratio between them.
 */

/** One measured figure and the baseline it is compared with, both from the same run. */
export interface Comparison {
  /** Groups rows under a heading, e.g. `SQLite, WAL, synchronous=FULL`. */
  readonly group: string;
  /** What was measured, e.g. `batches of 100`. */
  readonly name: string;
  /** The figure (higher is better), e.g. transfers per second through the SDK. */
  readonly value: number;
  /** The same work done the plain way, e.g. with hand-written SQL through the raw driver. */
  readonly baseline: number;
  /**
   * value / baseline, when measured otherwise than from the two figures (e.g. the median of per-round ratios of
   * paired rounds, which resists noise that drifts during the run). Default: `value / baseline`.
   */
  readonly ratio?: number;
  /** Spread of `value` over the measured rounds: (max − min) / median. */
  readonly valueSpread?: number;
  /** Spread of `baseline` over the measured rounds. */
  readonly baselineSpread?: number;
}

/** Column headings of {@link formatComparisons}. */
export interface ComparisonLabels {
  /** e.g. `SDK tx/s`. */
  readonly value: string;
  /** e.g. `raw SQL tx/s`. */
  readonly baseline: string;
  /** e.g. `SDK/raw`. */
  readonly ratio: string;
}

type Align = 'left' | 'right';

/**
 * Formats rows as an aligned table with a rule under the headings.
 *
 * @example
 * ```ts
 * console.log(formatTable(['name', 'tx/s'], [['single', '1,234']], ['left', 'right']));
 * ```
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => ((align[i] ?? 'left') === 'right' ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * Formats comparisons as one table: group, name, figure, baseline and figure/baseline.
 *
 * @example
 * ```ts
 * const rows = [{ group: 'SQLite', name: 'single', value: 900, baseline: 1000 }];
 * console.log(formatComparisons(rows, { value: 'SDK tx/s', baseline: 'raw tx/s', ratio: 'SDK/raw' }));
 * ```
 */
export function formatComparisons(rows: readonly Comparison[], labels: ComparisonLabels): string {
  let lastGroup = '';
  const cells = rows.map((r) => {
    const group = r.group === lastGroup ? '' : r.group;
    lastGroup = r.group;
    return [
      group,
      r.name,
      formatRate(r.value),
      formatSpread(r.valueSpread),
      formatRate(r.baseline),
      formatSpread(r.baselineSpread),
      formatRatio(r.ratio ?? r.value / r.baseline),
    ];
  });
  return formatTable(['backend', 'workload', labels.value, '±', labels.baseline, '±', labels.ratio], cells, [
    'left',
    'left',
    'right',
    'right',
    'right',
    'right',
    'right',
  ]);
}

/** A rate with thousands separators and no decimals (one decimal below 100). */
export function formatRate(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: n < 100 ? 1 : 0 });
}

/** A ratio such as `0.84×`. */
export function formatRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : '–';
}

/** Half the relative spread of the rounds, as `3%`; empty when there was a single round. */
function formatSpread(spread: number | undefined): string {
  return spread === undefined ? '' : `${Math.round((spread * 100) / 2)}%`;
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** (max − min) / median, or `undefined` for fewer than two values. */
export function spread(values: readonly number[]): number | undefined {
  if (values.length < 2) return undefined;
  return (Math.max(...values) - Math.min(...values)) / median(values);
}
