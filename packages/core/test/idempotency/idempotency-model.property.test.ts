import { isMarketkitError, MarketkitError } from '@marketkit/core';
import { ManualClock, propertyRuns, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Idempotency } from '../../src/idempotency/idempotency.js';
import type { IdempotentCall } from '../../src/idempotency/idempotency-types.js';
import type { MarketkitTransaction, Storage } from '../../src/storage/storage.js';
import { closeAll, countEffects, idempotencyOn, insertEffect, openStorage } from './idempotency-fixture.js';

const TTL = 1000;
const LOCK = 400;

/**
 * What the caller does once it holds the key: return a value, fail deterministically, fail retryably, or crash
 * after `begin` without finishing (its lock must then expire before the same request can take the key over).
 */
type Behaviour = 'ok' | 'declined' | 'retryable' | 'crash';

interface CallCommand {
  readonly kind: 'call';
  readonly key: string;
  readonly actor: string;
  readonly op: string;
  readonly request: number;
  readonly behaviour: Behaviour;
  /** Through `execute`, or `begin` then `complete`/`fail` (a crash always goes through `begin`). */
  readonly via: 'execute' | 'begin';
}

type Command = CallCommand | { readonly kind: 'advance'; readonly ms: number } | { readonly kind: 'sweep' };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('call' as const),
      key: fc.constantFrom('k1', 'k2'),
      actor: fc.constantFrom('alice', 'bob'),
      op: fc.constantFrom('pay', 'refund'),
      request: fc.integer({ min: 0, max: 2 }),
      behaviour: fc.constantFrom<Behaviour>('ok', 'ok', 'declined', 'retryable', 'crash'),
      via: fc.constantFrom<'execute' | 'begin'>('execute', 'begin'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(1, 200, LOCK, 999, 1500) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const) }) },
);

/** The outcome of one call as the caller sees it. */
type Seen = { readonly ok: unknown } | { readonly code: string; readonly message: string };

/** What a scope holds in the model: the request that owns it, its outcome or a holder's lock, its expiry. */
interface ModelEntry {
  readonly request: number;
  readonly outcome: Seen | 'in_progress';
  readonly lockedUntil: number;
  readonly expiresAt: number;
}

for (const backend of testBackends()) {
  describe(`idempotency model on ${backend.name}`, () => {
    let database: TestDatabase;
    let storage: Storage;
    const clock = new ManualClock();
    let runNo = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      storage = await openStorage(database);
    });
    afterAll(async () => {
      await closeAll([storage]);
      await database?.drop();
    });

    async function viaBegin(
      idem: Idempotency,
      call: IdempotentCall,
      work: (t: MarketkitTransaction) => Promise<unknown>,
    ) {
      const begun = await idem.begin(call);
      if (begun.status === 'replayed') return begun.result;
      try {
        return await storage.transaction(async (trx) => {
          const result = await work(trx);
          await idem.complete(trx, begun.handle, result);
          return result;
        });
      } catch (error) {
        await idem.fail(begun.handle, error);
        throw error;
      }
    }

    /** Runs one call through the module; returns what the caller saw and how often the work ran. */
    async function perform(idem: Idempotency, c: CallCommand, ref: string, value: unknown) {
      let ran = 0;
      const work = async (trx: MarketkitTransaction) => {
        ran++;
        await insertEffect(trx, ref);
        if (c.behaviour === 'declined')
          throw new MarketkitError('INSUFFICIENT_FUNDS', {
            message: `no ${ref}`,
            details: { accountId: ref, amountMinor: '1' },
          });
        if (c.behaviour === 'retryable')
          throw new MarketkitError('CONCURRENCY_CONFLICT', {
            message: `busy ${ref}`,
            details: { reason: 'busy', resource: 'effect', id: ref },
          });
        return value;
      };
      const call: IdempotentCall = { key: c.key, actor: c.actor, operation: c.op, request: { n: BigInt(c.request) } };
      let seen: Seen;
      try {
        if (c.behaviour === 'crash') {
          const begun = await idem.begin(call);
          if (begun.status === 'started') ran++;
          seen = { ok: begun.status === 'started' ? 'crashed' : begun.result };
        } else if (c.via === 'execute') {
          seen = { ok: await idem.execute(call, work) };
        } else {
          seen = { ok: await viaBegin(idem, call, work) };
        }
      } catch (e) {
        if (!isMarketkitError(e)) throw e;
        seen = { code: e.code, message: e.message };
      }
      return { seen, ran };
    }

    /** What the model expects of a call that finds `entry`: nothing to run (and what is seen), or a run. */
    function expectFound(entry: ModelEntry | undefined, c: CallCommand, now: number): Seen | 'runs' {
      if (entry === undefined || entry.expiresAt <= now) return 'runs';
      if (entry.request !== c.request) return { code: 'IDEMPOTENCY_KEY_REUSED', message: expect.any(String) };
      if (entry.outcome !== 'in_progress') return entry.outcome;
      if (entry.lockedUntil > now) return { code: 'IDEMPOTENCY_CONFLICT', message: expect.any(String) };
      return 'runs'; // the same request takes over a crashed holder
    }

    it('replays, refuses, takes over and expires keys exactly as a model of Stripe’s semantics says', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 30 }), async (commands) => {
          // Every run starts from an empty table: earlier runs' keys have all expired, and are swept now.
          clock.advance(10 * TTL);
          const idem = idempotencyOn(storage, clock, { ttlMs: TTL, lockMs: LOCK });
          await idem.sweepExpired();
          const run = `r${runNo++}`;
          const model = new Map<string, ModelEntry>();
          const effects = new Map<string, number>();
          for (const [i, c] of commands.entries()) {
            const now = clock.now();
            if (c.kind === 'advance') {
              clock.advance(c.ms);
              continue;
            }
            if (c.kind === 'sweep') {
              const due = [...model].filter(([, e]) => e.expiresAt <= now).map(([scope]) => scope);
              for (const scope of due) model.delete(scope);
              expect(await idem.sweepExpired()).toBe(due.length);
              continue;
            }
            const scope = `${c.actor}/${c.op}/${c.key}`;
            const ref = `${run}/${scope}`;
            const value = { by: i, amount: BigInt(i) * 10n ** 20n, scope };
            const { seen, ran } = await perform(idem, c, ref, value);
            const expected = expectFound(model.get(scope), c, now);
            if (expected !== 'runs') {
              expect(ran, `command ${i} must not run`).toBe(0);
              expect(seen).toStrictEqual(expected);
              continue;
            }
            expect(ran, `command ${i} must run once`).toBe(1);
            if (c.behaviour === 'ok') {
              expect(seen).toStrictEqual({ ok: value });
              model.set(scope, { request: c.request, outcome: seen, lockedUntil: 0, expiresAt: now + TTL });
              effects.set(ref, (effects.get(ref) ?? 0) + 1);
            } else if (c.behaviour === 'declined') {
              expect(seen).toStrictEqual({ code: 'INSUFFICIENT_FUNDS', message: `no ${ref}` });
              model.set(scope, { request: c.request, outcome: seen, lockedUntil: 0, expiresAt: now + TTL });
            } else if (c.behaviour === 'crash') {
              expect(seen).toStrictEqual({ ok: 'crashed' });
              const lockedUntil = now + LOCK;
              const expiresAt = Math.max(now + TTL, lockedUntil);
              model.set(scope, { request: c.request, outcome: 'in_progress', lockedUntil, expiresAt });
            } else {
              expect(seen).toStrictEqual({ code: 'CONCURRENCY_CONFLICT', message: `busy ${ref}` });
              // `execute` rolls back and leaves the record as it was; `begin` committed its claim over it, and
              // `fail` then released (deleted) the key.
              if (c.via === 'begin') model.delete(scope);
            }
          }
          for (const [ref, n] of effects) expect(await countEffects(storage, ref), ref).toBe(n);
          for (const [scope, entry] of model) {
            const [actor = '', operation = '', key = ''] = scope.split('/');
            const status =
              entry.outcome === 'in_progress' ? 'in_progress' : 'ok' in entry.outcome ? 'succeeded' : 'failed';
            expect(await idem.inspect({ key, actor, operation }), scope).toMatchObject({
              status,
              fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
              expired: entry.expiresAt <= clock.now(),
            });
          }
        }),
        { numRuns: propertyRuns(backend.name === 'postgres' ? 60 : 120) },
      );
    });
  });
}
