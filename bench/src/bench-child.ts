/**
 * A bench child process: a script run under tsx with a JSON spec, which prints `ready` once set up, starts when its
 * stdin receives a line (a start time, or just `go`), and prints its result as the last JSON line before exiting 0.
 */
import { spawn } from 'node:child_process';

export interface BenchChild<R> {
  /** Settles once the child printed `ready`. */
  readonly ready: Promise<void>;
  /** The child's last output line, parsed; rejects when it exits with another code than 0. */
  readonly result: Promise<R>;
  /** Sends the start line (`startAt`, an epoch ms every child waits for, or `go`). */
  go(startAt?: number): void;
}

/** Starts `node --import tsx ...args` (a script and its arguments, the spec as JSON among them). */
export function spawnBenchChild<R>(args: readonly string[], label: string): BenchChild<R> {
  const child = spawn(process.execPath, ['--no-deprecation', '--import', 'tsx', ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.includes('ready')) onReady();
  });
  const result = new Promise<R>((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`bench child (${label}) exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as R);
    });
  });
  return { ready, result, go: (startAt) => child.stdin?.end(`${startAt ?? 'go'}\n`) };
}
