/**
 * CPU time of the processes behind a benchmark window, read from `/proc` (Linux): the PostgreSQL cluster's
 * processes (the postmaster and its children, split into the benchmark database's backends, the cluster's
 * background processes and the backends of other databases), a few other processes by pid (PgBouncer), and the
 * whole machine (`/proc/stat`).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** `sysconf(_SC_CLK_TCK)`: 100 on every Linux Node runs on. */
const TICKS_PER_S = 100;
const SAMPLE_EVERY_MS = 500;

/** CPU of one window, in cores (CPU seconds per second of the window). */
export interface CpuFigures {
  readonly seconds: number;
  /** Backends connected to the benchmark's database. */
  readonly benchBackends: number;
  /** The postmaster and its background processes (WAL writer, checkpointer, autovacuum, …). */
  readonly background: number;
  /** Backends of other databases on the same server (other work sharing it). */
  readonly otherDatabases: number;
  /** The processes given by pid (e.g. PgBouncer), together. */
  readonly tracked: number;
  /** The whole machine: every CPU's busy time (all but idle and iowait). */
  readonly machine: number;
}

type Kind = 'bench' | 'background' | 'other';

/** utime + stime and ppid of a process, or `undefined` when it is gone. */
function stat(pid: number): { ticks: number; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces), from field 3 (state): ppid is 4, utime 14, stime 15.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return [user, nice, system, irq, softirq, steal].reduce<number>((n, v) => n + (v ?? 0), 0);
}

/**
 * Samples the cluster's processes every 500 ms while a window is open, so that a backend born during the window
 * counts from zero and one that exits keeps what it had spent at its last sample.
 *
 * @example
 * ```ts
 * const cpu = new ClusterCpu(postmasterPid, 'mk_bench_scale_x', [bouncerPid]);
 * cpu.start();
 * await work();
 * console.log(cpu.stop().benchBackends); // cores
 * ```
 */
export class ClusterCpu {
  readonly #pids = new Map<number, { kind: Kind; first: number; last: number }>();
  readonly #tracked = new Map<number, { first: number; last: number }>();
  readonly #notCluster = new Set<number>();
  #timer: NodeJS.Timeout | undefined;
  #t0 = 0;
  #machine0 = 0;

  constructor(
    private readonly postmasterPid: number,
    private readonly database: string,
    private readonly trackedPids: readonly number[] = [],
  ) {}

  /** Opens a window: takes the first sample and keeps sampling until {@link stop}. */
  start(): void {
    this.#pids.clear();
    this.#tracked.clear();
    this.#t0 = performance.now();
    this.#machine0 = machineBusyTicks();
    this.#sample(true);
    this.#timer = setInterval(() => this.#sample(false), SAMPLE_EVERY_MS);
  }

  /** Closes the window: a last sample, and the CPU of each group over it. */
  stop(): CpuFigures {
    clearInterval(this.#timer);
    this.#sample(false);
    const seconds = (performance.now() - this.#t0) / 1000;
    const cores = (ticks: number) => ticks / TICKS_PER_S / seconds;
    const sum = (kind: Kind) =>
      [...this.#pids.values()].filter((p) => p.kind === kind).reduce((n, p) => n + p.last - p.first, 0);
    return {
      seconds,
      benchBackends: cores(sum('bench')),
      background: cores(sum('background')),
      otherDatabases: cores(sum('other')),
      tracked: cores([...this.#tracked.values()].reduce((n, p) => n + p.last - p.first, 0)),
      machine: cores(machineBusyTicks() - this.#machine0),
    };
  }

  #sample(first: boolean): void {
    for (const pid of this.trackedPids) {
      const s = stat(pid);
      if (s === undefined) continue;
      const p = this.#tracked.get(pid);
      if (p === undefined) this.#tracked.set(pid, { first: first ? s.ticks : 0, last: s.ticks });
      else p.last = s.ticks;
    }
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || this.#notCluster.has(pid)) continue;
      const s = stat(pid);
      if (s === undefined) continue;
      if (pid !== this.postmasterPid && s.ppid !== this.postmasterPid) {
        this.#notCluster.add(pid);
        continue;
      }
      const p = this.#pids.get(pid);
      if (p !== undefined) p.last = s.ticks;
      // Born during the window: everything it spent is the window's.
      else this.#pids.set(pid, { kind: this.#kind(pid), first: first ? s.ticks : 0, last: s.ticks });
    }
  }

  /** From the process title PostgreSQL sets: `postgres: <cluster>: <user> <database> <host>(<port>) <state>`. */
  #kind(pid: number): Kind {
    if (pid === this.postmasterPid) return 'background';
    let title = '';
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      return 'background';
    }
    if (title.includes(` ${this.database} `)) return 'bench';
    return /\(\d+\)|\[local\]/.test(title) ? 'other' : 'background';
  }
}

/** The postmaster of the server a backend runs under: that backend's parent. */
export function postmasterOf(backendPid: number): number {
  const s = stat(backendPid);
  if (s === undefined) throw new Error(`no /proc/${backendPid}/stat: is PostgreSQL on this machine?`);
  return s.ppid;
}
