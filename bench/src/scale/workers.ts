/**
 * The worker processes of `npm run bench -- scale` as seen from the parent: spawned once, then told what to open
 * and run over their stdin (see `worker-child.ts`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command, Reply, RunReply } from './worker-child.js';

const CHILD = fileURLToPath(new URL('./worker-child.ts', import.meta.url));

/** One worker process. */
export class Worker {
  readonly #child: ChildProcess;
  readonly #waiting: ((r: Reply) => void)[] = [];
  readonly #exited: Promise<number | null>;

  constructor() {
    this.#child = spawn(process.execPath, ['--no-deprecation', '--import', 'tsx', CHILD], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
    let out = '';
    this.#child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        this.#waiting.shift()?.(JSON.parse(line) as Reply);
      }
    });
  }

  /** Sends a command and waits for its answer (rejects if the worker exits first). */
  async send(c: Command): Promise<Reply> {
    const reply = new Promise<Reply>((resolve) => this.#waiting.push(resolve));
    this.#child.stdin?.write(`${JSON.stringify(c)}\n`);
    const exited = this.#exited.then((code) => {
      throw new Error(`a scale worker exited (${code}) while asked to ${c.cmd}`);
    });
    return Promise.race([reply, exited]);
  }

  async run(prefix: string, ms: number, latencies: boolean): Promise<RunReply> {
    const r = await this.send({ cmd: 'run', prefix, ms, latencies });
    if (r.t !== 'run') throw new Error(`a scale worker answered ${r.t} to run`);
    return r;
  }

  /** Ends its stdin and waits for it to exit (killed after 5 s). */
  async stop(): Promise<void> {
    this.#child.stdin?.end();
    const timer = setTimeout(() => this.#child.kill(), 5000);
    await this.#exited;
    clearTimeout(timer);
  }
}
