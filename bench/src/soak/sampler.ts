/**
 * What the soak samples while it runs: memory (`process.memoryUsage()`, nothing forced; plus the heap seen right
 * after each major GC, or after a forced `gc()` when the process runs with `--expose-gc`), event-loop delay
 * (`monitorEventLoopDelay`) and stalls (a 10 ms timer that fires more than 100 ms late), one CSV row per sample.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  constants,
  type IntervalHistogram,
  monitorEventLoopDelay,
  PerformanceObserver,
  performance,
} from 'node:perf_hooks';

const MB = 1024 * 1024;
/** A stall: the event loop blocked longer than this. */
export const STALL_MS = 100;
const TICK_MS = 10;

/** One sample (memory in MB, times in ms). */
export interface Sample {
  /** Seconds since the load started. */
  readonly t: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  /**
   * heapUsed just after the latest major GC (mark-compact) before this sample, read in the GC observer; or after
   * the `gc()` this sample forced (`--expose-gc`). NaN until the first major GC.
   */
  readonly heapAfterGc: number;
  readonly loopP99: number;
  readonly loopMax: number;
  /** Stalls over {@link STALL_MS} so far. */
  readonly stalls: number;
  /** Event-loop utilization over the window (0–1). */
  readonly elu: number;
  /** Extra columns (operations done, queue sizes, a window p99): name → value. */
  readonly extra: Readonly<Record<string, number>>;
}

/** A stall seen by the late-timer detector. */
export interface Stall {
  readonly t: number;
  readonly ms: number;
  /**
   * CPU time the process used during the stall, ms. Near `ms`: the loop was busy (JavaScript or GC blocked it).
   * Far below: the process was not scheduled (other processes had the CPUs).
   */
  readonly cpuMs: number;
}

/** Samples memory and the event loop every `everyMs`, appending each sample to `csvPath`. */
export class Sampler {
  readonly samples: Sample[] = [];
  readonly stalls: Stall[] = [];
  stallCount = 0;
  /** Stalls during which the process used at least half the stall's length in CPU time: the loop was blocked. */
  busyStallCount = 0;
  /** Major GC pauses: count and the longest, ms. */
  majorGcs = 0;
  /** Major GCs per sample, in step with {@link samples}. */
  readonly majorGcsAt: number[] = [];
  longestGcMs = 0;
  readonly #loop: IntervalHistogram = monitorEventLoopDelay({ resolution: TICK_MS });
  readonly #window: IntervalHistogram = monitorEventLoopDelay({ resolution: TICK_MS });
  readonly #gcObserver: PerformanceObserver;
  #heapAfterGc = Number.NaN;
  #timer: NodeJS.Timeout | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #lastTick = 0;
  #lastCpu = process.cpuUsage();
  #elu = performance.eventLoopUtilization();
  #started = 0;
  #header = false;
  readonly #forceGc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

  constructor(
    private readonly csvPath: string,
    private readonly everyMs: number,
    private readonly extra: () => Record<string, number>,
  ) {
    this.#gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as { detail?: { kind?: number } }).detail?.kind;
        if (kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
        this.majorGcs++;
        this.longestGcMs = Math.max(this.longestGcMs, e.duration);
        if (this.#forceGc === undefined) this.#heapAfterGc = process.memoryUsage().heapUsed / MB;
      }
    });
  }

  /** Whether heapAfterGc comes from a forced `gc()` (the process runs with `--expose-gc`). */
  get forcesGc(): boolean {
    return this.#forceGc !== undefined;
  }

  start(): void {
    this.#started = performance.now();
    this.#loop.enable();
    this.#window.enable();
    this.#gcObserver.observe({ entryTypes: ['gc'] });
    this.#lastTick = performance.now();
    this.#ticker = setInterval(() => {
      const now = performance.now();
      const late = now - this.#lastTick - TICK_MS;
      const cpu = process.cpuUsage();
      const cpuMs = (cpu.user - this.#lastCpu.user + cpu.system - this.#lastCpu.system) / 1000;
      this.#lastTick = now;
      this.#lastCpu = cpu;
      if (late > STALL_MS) {
        this.stallCount++;
        if (cpuMs >= late / 2) this.busyStallCount++;
        if (this.stalls.length < 50) this.stalls.push({ t: (now - this.#started) / 1000, ms: late, cpuMs });
      }
    }, TICK_MS);
    mkdirSync(dirname(this.csvPath), { recursive: true });
    writeFileSync(this.csvPath, '');
    this.#timer = setInterval(() => this.sample(), this.everyMs);
  }

  /** Takes one sample now (the timer calls it; call it once more at the end). */
  sample(): Sample {
    if (this.#forceGc !== undefined) {
      this.#forceGc();
      this.#heapAfterGc = process.memoryUsage().heapUsed / MB;
    }
    const m = process.memoryUsage();
    const elu = performance.eventLoopUtilization(this.#elu);
    this.#elu = performance.eventLoopUtilization();
    const s: Sample = {
      t: (performance.now() - this.#started) / 1000,
      rss: m.rss / MB,
      heapUsed: m.heapUsed / MB,
      heapTotal: m.heapTotal / MB,
      external: m.external / MB,
      heapAfterGc: this.#heapAfterGc,
      loopP99: this.#window.percentile(99) / 1e6,
      loopMax: this.#window.max / 1e6,
      stalls: this.stallCount,
      elu: elu.utilization,
      extra: this.extra(),
    };
    this.#window.reset();
    this.samples.push(s);
    this.majorGcsAt.push(this.majorGcs);
    this.#append(s);
    return s;
  }

  /** Event-loop delay over the whole run, ms. */
  loopDelay(): { p50: number; p99: number; max: number } {
    return { p50: this.#loop.percentile(50) / 1e6, p99: this.#loop.percentile(99) / 1e6, max: this.#loop.max / 1e6 };
  }

  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#ticker);
    this.#loop.disable();
    this.#window.disable();
    this.#gcObserver.disconnect();
  }

  #append(s: Sample): void {
    const base: [string, number][] = [
      ['t_s', s.t],
      ['rss_mb', s.rss],
      ['heap_used_mb', s.heapUsed],
      ['heap_total_mb', s.heapTotal],
      ['external_mb', s.external],
      ['heap_after_gc_mb', s.heapAfterGc],
      ['loop_p99_ms', s.loopP99],
      ['loop_max_ms', s.loopMax],
      ['stalls', s.stalls],
      ['elu', s.elu],
      ...Object.entries(s.extra),
    ];
    if (!this.#header) {
      appendFileSync(this.csvPath, `${base.map(([k]) => k).join(',')}\n`);
      this.#header = true;
    }
    const cell = (v: number) => (Number.isNaN(v) ? '' : Number.isInteger(v) ? String(v) : v.toFixed(3));
    appendFileSync(this.csvPath, `${base.map(([, v]) => cell(v)).join(',')}\n`);
  }
}

/** Least-squares slope of `y` over `x` (per unit of x); NaN for fewer than two points. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const pts = points.filter(([, y]) => Number.isFinite(y));
  const n = pts.length;
  if (n < 2) return Number.NaN;
  const mx = pts.reduce((a, [x]) => a + x, 0) / n;
  const my = pts.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of pts) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}
