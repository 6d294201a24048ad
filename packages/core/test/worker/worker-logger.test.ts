import { createMarketplace, type Logger, MarketkitError } from '@marketkit/core';
import { ManualClock, testBackends } from '@marketkit/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';

type Line = { level: keyof Logger; obj: Record<string, unknown>; msg: string | undefined };

/** A Logger that keeps what it is told. */
function recordingLogger(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: keyof Logger) =>
    (obj: Readonly<Record<string, unknown>>, msg?: string): void => {
      lines.push({ level, obj: { ...obj }, msg });
    };
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

const SECRET = 'card 4242 4242 4242 4242 of alice@example.com';

for (const backend of testBackends()) {
  describe(`the worker's errors on ${backend.name}`, () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    async function withMarket(
      logger: Logger | undefined,
      body: (m: ReturnType<typeof createMarketplace>) => Promise<void>,
    ) {
      const database = await backend.createDatabase();
      const market = createMarketplace({
        adapter: database.adapter(),
        clock: new ManualClock(),
        ...(logger === undefined ? {} : { logger }),
      });
      try {
        await market.migrate();
        await body(market);
      } finally {
        await market.close();
        await database.drop();
      }
    }

    /** A worker with one poller that fails with `error`, run until it reported at least once. */
    async function failOnce(market: ReturnType<typeof createMarketplace>, error: unknown, onError?: () => void) {
      let thrown = 0;
      const worker = market.worker({
        pollIntervalMs: 5,
        extraPollers: [
          {
            name: 'boom',
            runOnce: async () => {
              thrown++;
              throw error;
            },
          },
        ],
        ...(onError === undefined ? {} : { onError }),
      });
      worker.start();
      await vi.waitFor(() => expect(thrown).toBeGreaterThan(0));
      await worker.stop();
    }

    it('logs a loop error to the marketplace logger with its code and where, by default', async () => {
      const logger = recordingLogger();
      await withMarket(logger, async (market) => {
        const error = new MarketkitError('CONNECTION_LOST', { details: { kind: 'connectionLost' } });
        await failOnce(market, error);
        const line = logger.lines.find((l) => l.obj['where'] === 'boom');
        expect(line).toMatchObject({
          level: 'error',
          obj: { where: 'boom', code: 'CONNECTION_LOST', retryable: true },
        });
      });
    });

    it('never logs the message of an error that is not a MarketkitError (it may hold personal data)', async () => {
      const logger = recordingLogger();
      await withMarket(logger, async (market) => {
        await failOnce(market, Object.assign(new TypeError(SECRET), { code: 'ECONNRESET' }));
        const line = logger.lines.find((l) => l.obj['where'] === 'boom');
        expect(line?.obj).toEqual({ where: 'boom', errorClass: 'TypeError', code: 'ECONNRESET' });
        expect(JSON.stringify(logger.lines)).not.toContain('4242');
      });
    });

    it('writes to console.error when no logger is given', async () => {
      const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
      await withMarket(undefined, async (market) => {
        await failOnce(market, new Error(SECRET));
        expect(spy).toHaveBeenCalledWith(
          expect.stringContaining('worker: boom failed'),
          expect.objectContaining({ where: 'boom' }),
        );
        expect(JSON.stringify(spy.mock.calls)).not.toContain('4242');
      });
    });

    it("lets a worker's own onError replace the logging", async () => {
      const logger = recordingLogger();
      const seen: unknown[] = [];
      await withMarket(logger, async (market) => {
        await failOnce(market, new Error('x'), () => seen.push('x'));
        expect(seen.length).toBeGreaterThan(0);
        expect(logger.lines.filter((l) => l.obj['where'] === 'boom')).toEqual([]);
      });
    });

    it('warns of an outbox delivery that failed, with the sink and partition', async () => {
      const logger = recordingLogger();
      const database = await backend.createDatabase();
      const market = createMarketplace({
        adapter: database.adapter(),
        clock: new ManualClock(),
        logger,
        events: {
          sinks: [
            {
              name: 'flaky-sink',
              deliver: async () => {
                throw new Error(SECRET);
              },
            },
          ],
        },
      });
      try {
        await market.migrate();
        await market.ledger.createAccounts([
          { id: 'a', currency: 'USD', code: 1 },
          { id: 'b', currency: 'USD', code: 1 },
        ]);
        await market.ledger.createTransfers([
          { id: 't', debitAccountId: 'a', creditAccountId: 'b', amount: 1n, currency: 'USD', code: 1 },
        ]);
        await market.events.relay.runOnce();
        const line = logger.lines.find((l) => l.obj['sink'] === 'flaky-sink');
        expect(line).toMatchObject({ level: 'warn', obj: { sink: 'flaky-sink', errorClass: 'Error', attempts: 1 } });
        expect(JSON.stringify(logger.lines)).not.toContain('4242');
      } finally {
        await market.close();
        await database.drop();
      }
    });
  });
}
