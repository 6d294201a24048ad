/**
 * The console's server-rendered SVG charts and number formats: one mark per day, every tooltip the exact value,
 * heights in proportion, labels escaped; ratios shown as percentages by moving the decimal point, never a float.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chart } from '../src/console/console-charts.js';
import { formatDuration, formatMinor, formatRatio } from '../src/console/console-format.js';

const days = ['2026-03-01', '2026-03-02', '2026-03-03'];

describe('console charts', () => {
  it('draws one bar per day, in proportion, with the exact amount in each tooltip', () => {
    const values = [0n, 9_007_199_254_740_993n, 4_503_599_627_370_497n];
    const svg = chart({
      title: 'GMV by day (USD)',
      kind: 'bars',
      series: 'gmv',
      points: values.map((value, i) => ({ label: days[i] ?? '', value, display: formatMinor(value, 'USD', 'en-US') })),
    }).toString();
    const heights = [...svg.matchAll(/<rect class="mark"[^>]* height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(heights).toEqual([0, 136, 68]);
    expect(svg).toContain('<title>2026-03-02: $90,071,992,547,409.93</title>');
    expect(svg).toContain('max $90,071,992,547,409.93');
    expect(svg).toContain('>2026-03-01</text>');
    expect(svg).toContain('>2026-03-03</text>');
  });

  it('draws the take rate as a line through one point per day', () => {
    const svg = chart({
      title: 'Take rate',
      kind: 'line',
      series: 'take',
      points: [
        ['0.1000', 1000n],
        ['0.0500', 500n],
        ['0', 0n],
      ].map(([r, value], i) => ({ label: days[i] ?? '', value: value as bigint, display: formatRatio(r as string) })),
    }).toString();
    expect(svg.match(/<circle /g)).toHaveLength(3);
    expect(svg).toMatch(/<path class="trend" d="M[\d.]+ 22\.00 L[\d.]+ 90\.00 L[\d.]+ 158\.00"/);
    expect(svg).toContain('<title>2026-03-01: 10.00 %</title>');
  });

  it('escapes labels and titles', () => {
    const svg = chart({
      title: '<script>x</script>',
      kind: 'bars',
      series: 'gmv',
      points: [{ label: '"><img src=x onerror=alert(1)>', value: 1n, display: '<b>1</b>' }],
    }).toString();
    expect(svg).not.toMatch(/<script|<img|<b>/);
    expect(svg).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
  });

  it('shows a ratio as the same decimal times 100', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.integer({ min: 0, max: 8 }), (units, places) => {
        const text =
          places === 0
            ? String(units)
            : `${units / 10n ** BigInt(places)}.${String(units % 10n ** BigInt(places)).padStart(places, '0')}`;
        const shown = formatRatio(text);
        expect(shown.endsWith(' %')).toBe(true);
        const [whole = '', frac = ''] = shown.slice(0, -2).split('.');
        // shown = units / 10^places * 100, exactly: compare both as integers of 10^-scale
        const scale = Math.max(frac.length, places);
        expect(BigInt(whole + frac.padEnd(scale, '0'))).toBe(
          (units * 100n * 10n ** BigInt(scale)) / 10n ** BigInt(places),
        );
      }),
    );
    expect(formatRatio('0.1234')).toBe('12.34 %');
    expect(formatRatio('1')).toBe('100 %');
    expect(formatRatio('0.00005')).toBe('0.005 %');
    expect(formatRatio('not a number')).toBe('not a number');
  });

  it('says durations in the unit people read', () => {
    expect(
      [999, 59_000, 60_000, 3_600_000, 5_400_000, 2 * 86_400_000, 2 * 86_400_000 + 3_600_000].map(formatDuration),
    ).toEqual(['0 s', '59 s', '1 min', '1 h', '1 h 30 min', '2 d', '2 d 1 h']);
  });
});
