/**
 * `npm run bench -- <name> [flags…]` runs one benchmark, e.g. `npm run bench -- ledger`.
 * Each benchmark prints its figures beside a baseline measured in the same run.
 */
import { runCheckoutBench } from './checkout-bench.js';
import { runLedgerBench } from './ledger-bench.js';
import { runOutboxBench } from './outbox-bench.js';
import { runSagaBench } from './saga-bench.js';

/** A benchmark: receives the arguments after its name. */
type Bench = (args: readonly string[]) => Promise<void>;

const BENCHES = new Map<string, Bench>([
  ['checkout', runCheckoutBench],
  ['ledger', runLedgerBench],
  ['outbox', runOutboxBench],
  ['saga', runSagaBench],
]);

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const bench = name === undefined ? undefined : BENCHES.get(name);
  if (bench === undefined) {
    console.error(`usage: npm run bench -- <${[...BENCHES.keys()].join('|')}> [flags]`);
    process.exitCode = 2;
    return;
  }
  await bench(args);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
