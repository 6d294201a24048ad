/**
 * Measuring lanes of checkouts against each other in the same run (warm-up, rounds, medians).
 */
import { performance } from 'node:perf_hooks';
import { median, spread } from '../report.js';

export interface BenchOptions {
  readonly rounds: number;
  readonly roundMs: number;
  readonly warmupMs: number;
  readonly only: 'sqlite' | 'postgres' | undefined;
}

export function parseOptions(args: readonly string[]): BenchOptions {
  const quick = args.includes('--quick');
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  if (only !== undefined && only !== 'sqlite' && only !== 'postgres')
    throw new Error(`--only=${only}: sqlite|postgres`);
  return quick ? { rounds: 1, roundMs: 250, warmupMs: 150, only } : { rounds: 5, roundMs: 700, warmupMs: 3000, only };
}

/** Something that performs one full checkout per call (the SDK, or a baseline), on its own stream of checkouts. */
export interface Lane {
  readonly name: string;
  run(): Promise<void>;
}

/** Median checkouts per second of a lane over the rounds, with the spread of the rounds. */
export interface LaneFigure {
  readonly rate: number;
  readonly spread: number | undefined;
}

export interface Measured {
  readonly lanes: LaneFigure[];
  /** Median over the rounds of rate(lane 0) / rate(lane j), for every j (1 for j = 0). */
  readonly ratios: number[];
  /** Checkouts per lane in the measured rounds, and the time each lane spent on them. */
  readonly count: number;
  readonly ms: number[];
}

/**
 * Warms every lane up, calls `beforeRounds` (say, to refresh the planner's statistics of what the warm-up wrote),
 * then runs rounds sized so that lane 0 spends about `roundMs` in each. Sequential
 * (`inFlight` = 1): the lanes take turns call by call, the order rotating, so noise hits all alike. Otherwise each
 * lane runs `inFlight` calls at a time, one lane after another (the first lane rotating from round to round).
 */
export async function measure(
  o: BenchOptions,
  lanes: readonly Lane[],
  inFlight: number,
  beforeRounds: () => void | Promise<void> = () => {},
): Promise<Measured> {
  const run = (count: number, round: number) =>
    inFlight === 1 ? interleaved(lanes, count) : oneAfterAnother(lanes, count, inFlight, round);
  let [warmCount, warmMs] = [0, 0];
  for (let k = inFlight; warmMs < o.warmupMs; k *= 2) {
    warmMs += (await run(k, 0))[0]!;
    warmCount += k;
  }
  const count = Math.max(inFlight * 4, Math.round((warmCount * o.roundMs) / warmMs));
  await beforeRounds();
  const rates: number[][] = lanes.map(() => []);
  const ratios: number[][] = lanes.map(() => []);
  const ms = lanes.map(() => 0);
  for (let r = 0; r < o.rounds; r++) {
    const t = await run(count, r);
    for (const [j, laneMs] of t.entries()) {
      rates[j]!.push((count * 1000) / laneMs);
      ratios[j]!.push(laneMs / t[0]!);
      ms[j]! += laneMs;
    }
  }
  return {
    lanes: rates.map((r) => ({ rate: median(r), spread: spread(r) })),
    ratios: ratios.map((r) => median(r)),
    count: count * o.rounds,
    ms,
  };
}

async function interleaved(lanes: readonly Lane[], count: number): Promise<number[]> {
  const ms = lanes.map(() => 0);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < lanes.length; j++) {
      const k = (i + j) % lanes.length;
      const t0 = performance.now();
      await lanes[k]!.run();
      ms[k]! += performance.now() - t0;
    }
  }
  return ms;
}

async function oneAfterAnother(lanes: readonly Lane[], count: number, inFlight: number, round: number) {
  const ms = lanes.map(() => 0);
  for (let j = 0; j < lanes.length; j++) {
    const k = (round + j) % lanes.length;
    let left = count;
    const worker = async () => {
      while (left > 0) {
        left--;
        await lanes[k]!.run();
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: inFlight }, worker));
    ms[k] = performance.now() - t0;
  }
  return ms;
}
