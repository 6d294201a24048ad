import { html, type SafeHtml } from './safe-html.js';

/** One bar or point of a chart: where it sits (`x` label), its size, and what its tooltip says exactly. */
export interface ChartPoint {
  readonly label: string;
  /** The value, in any exact unit (minor units, or a ratio scaled to an integer). */
  readonly value: bigint;
  /** The exact value as shown to people (`$1,234.50`, `10.00 %`). */
  readonly display: string;
}

/** A chart's title, its points (oldest first), and how its largest value is shown on the axis. */
export interface ChartInput {
  readonly title: string;
  readonly points: readonly ChartPoint[];
  readonly kind: 'bars' | 'line';
  /** A CSS class of the series colour. */
  readonly series: string;
}

const W = 560;
const H = 180;
const PAD = { left: 8, right: 8, top: 22, bottom: 22 };

/** `value / max` of the plot height, in pixels; exact division on bigints, one-hundredth of a pixel. */
function heightOf(value: bigint, max: bigint): number {
  if (max <= 0n || value <= 0n) return 0;
  const h = BigInt(H - PAD.top - PAD.bottom);
  return Number((value * h * 100n) / max) / 100;
}

/**
 * A plain SVG chart, server-rendered: bars (GMV, escrow) or a line (take rate), the largest value on the axis, the
 * first and last day below, and every point's exact value in its `<title>` (the browser's tooltip).
 */
export function chart(input: ChartInput): SafeHtml {
  const { points } = input;
  let max = 0n;
  for (const p of points) if (p.value > max) max = p.value;
  const top = points.find((p) => p.value === max);
  const plotW = W - PAD.left - PAD.right;
  const step = points.length === 0 ? plotW : plotW / points.length;
  const baseY = H - PAD.bottom;
  const x = (i: number) => PAD.left + i * step;
  const marks =
    input.kind === 'bars'
      ? points.map((p, i) => {
          const h = heightOf(p.value, max);
          return html`<rect class="mark" x="${fix(x(i) + step * 0.1)}" y="${fix(baseY - h)}" width="${fix(step * 0.8)}" height="${fix(h)}"><title>${p.label}: ${p.display}</title></rect>`;
        })
      : line(points, max, step, baseY);
  const first = points[0]?.label ?? '';
  const last = points.at(-1)?.label ?? '';
  return html`<figure class="chart ${input.series}">
<figcaption>${input.title}</figcaption>
<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${input.title}" xmlns="http://www.w3.org/2000/svg">
<line class="axis" x1="${PAD.left}" y1="${baseY}" x2="${W - PAD.right}" y2="${baseY}"></line>
<text class="tick" x="${PAD.left}" y="14">max ${top?.display ?? '–'}</text>
${marks}
<text class="tick" x="${PAD.left}" y="${H - 6}">${first}</text>
<text class="tick end" x="${W - PAD.right}" y="${H - 6}">${last}</text>
</svg></figure>`;
}

function line(points: readonly ChartPoint[], max: bigint, step: number, baseY: number): SafeHtml[] {
  const at = points.map((p, i) => ({ p, cx: PAD.left + i * step + step / 2, cy: baseY - heightOf(p.value, max) }));
  const path = at.map((a, i) => `${i === 0 ? 'M' : 'L'}${fix(a.cx)} ${fix(a.cy)}`).join(' ');
  return [
    html`<path class="trend" d="${path}"></path>`,
    ...at.map(
      (a) =>
        html`<circle class="mark" cx="${fix(a.cx)}" cy="${fix(a.cy)}" r="3"><title>${a.p.label}: ${a.p.display}</title></circle>`,
    ),
  ];
}

const fix = (n: number) => n.toFixed(2);
