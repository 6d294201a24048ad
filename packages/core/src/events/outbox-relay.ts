import type { Link } from '@opentelemetry/api';
import { ulid } from 'ulid';
import { type Clock, systemClock } from '../clock/clock.js';
import { parseInput } from '../errors/validation-error.js';
import { errorCode, linkTo } from '../observability/tracing.js';
import type { Storage } from '../storage/storage.js';
import type { OutboxEvent } from './event-types.js';
import {
  anyPartitionDue,
  backOff,
  claimPartitions,
  deleteDelivered,
  ensurePartitions,
  markDelivered,
  type PartitionLease,
  readPartition,
  releaseLease,
} from './partition-leases.js';
import {
  backoffDelay,
  type OutboxRelayOptions,
  type RelayErrorInfo,
  type ResolvedRelayOptions,
  relayOptionsSchema,
} from './relay-options.js';

/** Rows deleted per sweep statement. */
const SWEEP_CHUNK = 1000;
/** A kept lease is used again only while this much of it is left, so the next batch fits in it comfortably. */
const RENEW_MARGIN = 0.5;

/**
 * Drains the outbox to its sinks: at least once, in `sequence` order per aggregate, in batches, with exponential
 * backoff of a partition whose sink fails. Any number of relays, in any number of processes, can run against one
 * database; they share the work by partition.
 *
 * How a round (`runOnce`) goes:
 * 1. Claim up to `partitionsPerRun` partitions that have undelivered events and are neither leased nor backing
 *    off (`FOR UPDATE SKIP LOCKED` on PostgreSQL; one guarded `UPDATE` on SQLite). A claim sets the lease owner
 *    and expiry and bumps the partition's fencing token.
 * 2. For each claimed partition, in parallel: read its first `batchSize` undelivered events by sort key (each
 *    aggregate's events in `sequence` order), hand them to every sink in turn, then mark them delivered in one
 *    transaction that checks the fencing token and releases the lease, or, after a full batch, renews it: the
 *    relay keeps a busy partition for its next round instead of claiming it again.
 * 3. If a sink throws, nothing is marked; the partition records the error and is left alone for
 *    `min(maxMs, baseMs × 2^(attempts-1))` (jittered), then the whole batch is delivered again.
 *
 * Guarantees: an event is delivered only after its transaction committed, and never if it rolled back; every
 * committed event is delivered at least once; for each aggregate, the first delivery of `sequence` n precedes
 * the first delivery of n + 1. A relay that stalls past its lease can deliver a batch a second time (the new
 * holder delivers it too) but cannot mark it delivered: `runOnce` rejects with `LEASE_LOST`.
 *
 * @example
 * ```ts
 * const listeners = new EventListeners();
 * listeners.on('order.paid', (e) => console.log('paid', e.aggregateId));
 * const relay = new OutboxRelay(storage, { sinks: [listeners] });
 * relay.start(); // or call `await relay.runOnce()` from your own worker loop
 * // …
 * await relay.stop();
 * ```
 */
export class OutboxRelay {
  readonly #storage: Storage;
  readonly #options: ResolvedRelayOptions;
  readonly #clock: Clock;
  /** Lease owner name written to `outbox_partitions.owner`. */
  readonly owner: string;
  #loop: Promise<void> | undefined;
  #running = false;
  #woken = false;
  #interrupt: (() => void) | undefined;
  /** Partitions whose last batch was full: kept (lease renewed) for the next round. Only an optimization. */
  readonly #kept = new Map<number, PartitionLease>();
  /** The next batch of a kept partition, read by the statement that marked its last one (PostgreSQL). */
  readonly #prefetched = new Map<number, OutboxEvent[]>();
  /** Whether this relay made sure its tenant's partitions have lease rows (`ensurePartitions`). */
  #partitionsReady = false;

  constructor(storage: Storage, options: OutboxRelayOptions) {
    this.#storage = storage;
    this.#options = parseInput(relayOptionsSchema, options, 'relay options');
    this.#clock = this.#options.clock ?? systemClock;
    this.owner = this.#options.owner ?? `relay-${ulid()}`;
  }

  /**
   * One round: claims partitions, delivers a batch from each and marks it. Resolves to the number of events
   * delivered and marked (0 when there was nothing to do, or every claimed partition's sink failed: see
   * `onError`). Rejects, after the other partitions finished, with `LEASE_LOST` when this relay lost a claim
   * before marking, or with a storage error.
   *
   * @example
   * ```ts
   * while ((await relay.runOnce()) > 0) {} // drain what is there now
   * ```
   */
  async runOnce(): Promise<number> {
    return (await this.#round()).delivered;
  }

  /** One round; `more` when work is probably left (a full batch, or as many partitions as asked for). */
  async #round(): Promise<{ delivered: number; more: boolean }> {
    if (!this.#partitionsReady) {
      await ensurePartitions(this.#storage);
      this.#partitionsReady = true;
    }
    const now = this.#clock.now();
    const { leaseMs, partitionsPerRun } = this.#options;
    const kept = await this.#takeKept(now);
    const wanted = partitionsPerRun - kept.length;
    let claimed: PartitionLease[] = [];
    // Without concurrent writers, a claim takes the database write lock: probe with a read first.
    const probe = !this.#storage.adapter.capabilities.concurrentWriters && kept.length === 0;
    if (wanted > 0 && (!probe || (await anyPartitionDue(this.#storage, now)))) {
      claimed = await claimPartitions(this.#storage, this.owner, now, leaseMs, wanted);
    }
    const leases = [...kept, ...claimed];
    if (leases.length === 0) return { delivered: 0, more: false };
    const results = await Promise.allSettled(leases.map((lease) => this.#drain(lease)));
    let delivered = 0;
    for (const r of results) {
      if (r.status === 'rejected') throw r.reason;
      delivered += r.value;
    }
    return { delivered, more: this.#kept.size > 0 || leases.length === partitionsPerRun };
  }

  /**
   * Deletes delivered events written more than `retentionMs` ago (by the time in their ULID) and returns how many.
   * Undelivered events are never deleted. The `start()` loop calls it every `sweepIntervalMs`.
   *
   * @example
   * ```ts
   * const deleted = await relay.sweep();
   * ```
   */
  async sweep(): Promise<number> {
    const cutoff = this.#clock.now() - this.#options.retentionMs;
    let total = 0;
    for (;;) {
      const n = await deleteDelivered(this.#storage, cutoff, SWEEP_CHUNK);
      total += n;
      if (n < SWEEP_CHUNK) return total;
    }
  }

  /**
   * Starts a polling loop in this process: another round at once while work is probably left (a full batch, or
   * every partition asked for had events), else after `pollIntervalMs` or a `wake()`; sweeps delivered events
   * every `sweepIntervalMs`. Errors go to `onError` and the loop goes on. Calling it again while running does
   * nothing.
   *
   * @example
   * ```ts
   * relay.start();
   * process.on('SIGTERM', () => void relay.stop());
   * ```
   */
  start(): void {
    if (this.#loop !== undefined) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /**
   * Stops the loop started by `start()`, after the round in flight finished (its claims are marked or backed
   * off, so nothing waits for a lease to expire).
   *
   * @example
   * ```ts
   * await relay.stop();
   * ```
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#interrupt?.();
    await this.#loop;
    this.#loop = undefined;
    await this.release();
  }

  /**
   * Gives back the partitions this relay kept between rounds (a relay keeps a partition while its batches come back
   * full), so other relays need not wait for the leases to expire. `stop()` calls it; call it yourself before
   * dropping a relay you drove with `runOnce`.
   *
   * @example
   * ```ts
   * while ((await relay.runOnce()) > 0) {}
   * await relay.release();
   * ```
   */
  async release(): Promise<void> {
    const leases = [...this.#kept.values()];
    this.#kept.clear();
    this.#prefetched.clear();
    const now = this.#clock.now();
    await Promise.all(leases.map((lease) => releaseLease(this.#storage, lease, now)));
  }

  /**
   * Cuts the `start()` loop's idle wait short, e.g. right after a transaction that wrote events committed in this
   * process, so its listeners hear of them without waiting for the next poll.
   *
   * @example
   * ```ts
   * await storage.transaction((trx) => appendEvents(trx, events));
   * relay.wake();
   * ```
   */
  wake(): void {
    this.#woken = true;
    this.#interrupt?.();
  }

  async #drain(lease: PartitionLease): Promise<number> {
    const prefetched = this.#prefetched.get(lease.partition);
    this.#prefetched.delete(lease.partition);
    const events = prefetched ?? (await readPartition(this.#storage, lease.partition, this.#options.batchSize));
    if (events.length === 0) {
      await releaseLease(this.#storage, lease, this.#clock.now());
      return 0;
    }
    const failed = await this.#observedDeliver(lease.partition, events);
    if (failed !== undefined) {
      const now = this.#clock.now();
      const attempts = lease.attempts + 1;
      const retryAt = now + backoffDelay(this.#options.backoff, attempts);
      await backOff(this.#storage, lease, failed.error, now, retryAt);
      this.#report(failed.error, { partition: lease.partition, sink: failed.sink, attempts, retryAt });
      return 0;
    }
    const now = this.#clock.now();
    const ids = events.map((e) => e.id);
    const remove = this.#options.retentionMs === 0; // nothing delivered is kept: delete rather than mark
    if (events.length < this.#options.batchSize) {
      await markDelivered(this.#storage, lease, ids, { now, remove });
    } else {
      // A full batch: more is probably waiting. Keep the partition rather than claim it again next round.
      const { batchSize, leaseMs } = this.#options;
      const renewUntil = now + leaseMs;
      const marked = await markDelivered(this.#storage, lease, ids, { now, renewUntil, readNext: batchSize, remove });
      this.#kept.set(lease.partition, marked.lease);
      if (marked.next !== undefined) this.#prefetched.set(lease.partition, marked.next);
    }
    return events.length;
  }

  /** The kept leases with enough time left; the others are released, to be claimed afresh like any partition. */
  async #takeKept(now: number): Promise<PartitionLease[]> {
    const leases = [...this.#kept.values()];
    this.#kept.clear();
    const isFresh = (lease: PartitionLease) => lease.expiresAt - now >= this.#options.leaseMs * RENEW_MARGIN;
    const stale = leases.filter((lease) => !isFresh(lease));
    for (const lease of stale) this.#prefetched.delete(lease.partition);
    await Promise.all(stale.map((lease) => releaseLease(this.#storage, lease, now)));
    return leases.filter(isFresh);
  }

  /**
   * {@link #deliver} in a `marketkit.relay.batch` span linked to the spans that wrote the events (up to
   * {@link MAX_LINKS}), timed as operation `relay_batch`; a sink's failure marks the span and the timing as errors.
   */
  #observedDeliver(partition: number, events: readonly OutboxEvent[]) {
    const obs = this.#storage.observability;
    if (obs.off) return this.#deliver(events);
    const attributes = () => ({ 'marketkit.partition': partition, 'marketkit.events': events.length });
    return obs
      .observe(
        'relay_batch',
        'marketkit.relay.batch',
        attributes,
        async () => {
          const failed = await this.#deliver(events);
          if (failed !== undefined) throw new SinkFailed(failed);
          return undefined;
        },
        () => eventLinks(events),
      )
      .catch((error: unknown) => {
        if (error instanceof SinkFailed) return error.failure;
        throw error;
      });
  }

  async #deliver(events: readonly OutboxEvent[]): Promise<{ sink: string; error: unknown } | undefined> {
    for (const sink of this.#options.sinks) {
      try {
        await sink.deliver(events);
      } catch (error) {
        return { sink: sink.name, error };
      }
    }
    return undefined;
  }

  async #run(): Promise<void> {
    let lastSweep = performance.now();
    const { pollIntervalMs, sweepIntervalMs } = this.#options;
    while (this.#running) {
      let more = false;
      try {
        more = (await this.#round()).more;
        if (sweepIntervalMs > 0 && performance.now() - lastSweep >= sweepIntervalMs) {
          lastSweep = performance.now();
          await this.sweep();
        }
      } catch (error) {
        this.#report(error, {});
      }
      // Straight on while work is probably left; otherwise wait for the next poll or a wake().
      if (!more && this.#running) await this.#idle(pollIntervalMs);
    }
  }

  #idle(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#interrupt = undefined;
        this.#woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#interrupt = done;
    });
  }

  #report(error: unknown, info: RelayErrorInfo): void {
    try {
      this.#options.onError?.(error, info);
    } catch {
      // A throwing error handler must not stop the relay.
    }
  }
}

/** A sink's failure, thrown through the relay batch's span to mark it; its `code` is the sink error's. */
class SinkFailed extends Error {
  readonly code: string;
  constructor(readonly failure: { readonly sink: string; readonly error: unknown }) {
    super('sink failed');
    this.code = errorCode(failure.error);
  }
}

/** Most links a relay batch's span carries (one per distinct writing span). */
const MAX_LINKS = 32;

function eventLinks(events: readonly OutboxEvent[]): Link[] {
  const seen = new Set<string>();
  const links: Link[] = [];
  for (const e of events) {
    if (e.traceContext === undefined || seen.has(e.traceContext)) continue;
    seen.add(e.traceContext);
    links.push(...linkTo(e.traceContext));
    if (links.length >= MAX_LINKS) break;
  }
  return links;
}
