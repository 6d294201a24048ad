import { randomBytes } from 'node:crypto';
import { jetStreamPublisher } from '@marketkit/adapters/nats';
import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OUTBOX_PARTITIONS,
  type OutboxEvent,
  OutboxRelay,
  type Publisher,
  publisherSink,
} from '../../src/events/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { commitEvents, openStorage, partitionRow } from './outbox-fixture.js';

// The real broker on this machine; MARKETKIT_NATS_URL=off skips these tests visibly.
const NATS_URL = process.env['MARKETKIT_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const skip = NATS_URL === 'off';

interface Received {
  readonly subject: string;
  readonly msgId: string | undefined;
  readonly body: OutboxEvent;
}

async function readStream(nc: NatsConnection, stream: string, count: number): Promise<Received[]> {
  const consumer = await nc.jetstream().consumers.get(stream); // an ordered consumer from the start
  const out: Received[] = [];
  while (out.length < count) {
    const batch = await consumer.fetch({ max_messages: count - out.length, expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      got++;
      out.push({ subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), body: m.json<OutboxEvent>() });
    }
    if (got === 0) break;
  }
  return out;
}

for (const backend of testBackends()) {
  describe.skipIf(skip)(`JetStream publisher (real NATS) with ${backend.name}`, () => {
    let database: TestDatabase;
    let storage: Storage;
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    const streams: string[] = [];
    const clock = new ManualClock();

    const newStream = async (create = true) => {
      const tag = randomBytes(6).toString('hex');
      const name = `MKTEST_${tag}`;
      const prefix = `mktest_${tag}`;
      if (create) {
        await jsm.streams.add({ name, subjects: [`${prefix}.>`] });
        streams.push(name);
      }
      return { name, prefix };
    };

    beforeAll(async () => {
      nc = await connect({ servers: NATS_URL, timeout: 3000 });
      jsm = await nc.jetstreamManager();
      database = await backend.createDatabase();
      storage = await openStorage(database);
    });
    afterAll(async () => {
      for (const name of streams) await jsm?.streams.delete(name).catch(() => false);
      await nc?.close();
      await storage?.destroy();
      await database?.drop();
    });

    it('publishes committed events through the relay and consumes them back, in order, with msgID = event id', async () => {
      const { name, prefix } = await newStream();
      const publisher: Publisher = jetStreamPublisher({
        jetstream: nc.jetstream(),
        subjectPrefix: prefix,
        streamName: name,
      });
      const relay = new OutboxRelay(storage, {
        sinks: [publisherSink(publisher)],
        clock,
        partitionsPerRun: OUTBOX_PARTITIONS,
      });
      const written = await commitEvents(
        storage,
        [
          { type: 'order.paid', aggregateType: 'order', aggregateId: 'o1', payload: { amount: 1250n } },
          { type: 'order.shipped', aggregateType: 'order', aggregateId: 'o1', payload: { carrier: 'ups' } },
          { type: 'payout.sent', aggregateType: 'seller account', aggregateId: 's1', payload: { amount: 1000n } },
          { type: 'order.refunded', aggregateType: 'order', aggregateId: 'o1', payload: { amount: 250n } },
        ],
        clock,
      );
      expect(await relay.runOnce()).toBe(4);

      const received = await readStream(nc, name, 4);
      expect(received.map((r) => r.body.id).sort()).toEqual(written.map((e) => e.id).sort());
      for (const r of received) expect(r.msgId).toBe(r.body.id);
      const o1 = received.filter((r) => r.body.aggregateId === 'o1');
      expect(o1.map((r) => [r.body.sequence, r.body.type, r.subject])).toEqual([
        [1, 'order.paid', `${prefix}.order.order.paid`],
        [2, 'order.shipped', `${prefix}.order.order.shipped`],
        [3, 'order.refunded', `${prefix}.order.order.refunded`],
      ]);
      expect(o1[0]?.body.payload).toEqual({ amount: '1250' });
      const s1 = received.find((r) => r.body.aggregateId === 's1');
      expect(s1?.subject).toBe(`${prefix}.seller_account.payout.sent`);
      expect(s1?.body).toMatchObject({ aggregateType: 'seller account', sequence: 1, createdAt: clock.now() });
    });

    it('lets the stream drop republished events by msgID', async () => {
      const { name, prefix } = await newStream();
      const js = nc.jetstream();
      const acks: boolean[] = [];
      const counting = {
        publish: async (...args: Parameters<typeof js.publish>) => {
          const ack = await js.publish(...args);
          acks.push(ack.duplicate);
          return ack;
        },
      };
      const publisher = jetStreamPublisher({ jetstream: counting, subjectPrefix: prefix, streamName: name });
      const events: OutboxEvent[] = [1, 2, 3].map((sequence) => ({
        id: `dedup-${sequence}`,
        type: 'thing.happened',
        aggregateType: 'thing',
        aggregateId: 't1',
        sequence,
        partition: 0,
        payload: { sequence },
        createdAt: 0,
      }));
      await publisher.publish(events);
      await publisher.publish(events); // a relay retry
      expect(acks).toEqual([false, false, false, true, true, true]);
      expect((await jsm.streams.info(name)).state.messages).toBe(3);
      expect((await readStream(nc, name, 3)).map((r) => r.body.sequence)).toEqual([1, 2, 3]);
    });

    it('backs the partition off while no stream takes the messages, then delivers once one does', async () => {
      const { name, prefix } = await newStream(false);
      const publisher = jetStreamPublisher({ jetstream: nc.jetstream(), subjectPrefix: prefix, ackTimeoutMs: 1000 });
      const errors: unknown[] = [];
      const relay = new OutboxRelay(storage, {
        sinks: [publisherSink(publisher, 'nats')],
        clock,
        backoff: { baseMs: 1000, jitter: false },
        onError: (e) => errors.push(e),
      });
      const [written] = await commitEvents(
        storage,
        [{ type: 'order.paid', aggregateType: 'order', aggregateId: 'late', payload: { amount: 1n } }],
        clock,
      );
      expect(await relay.runOnce()).toBe(0);
      expect(errors).toHaveLength(1);
      const row = await partitionRow(storage, written?.partition ?? -1);
      expect(row.attempts).toBe(1n);
      expect(row.last_error).toMatch(/JetStream did not acknowledge/);

      await jsm.streams.add({ name, subjects: [`${prefix}.>`] });
      streams.push(name);
      clock.advance(1000);
      expect(await relay.runOnce()).toBe(1);
      expect((await readStream(nc, name, 1)).map((r) => r.body.id)).toEqual([written?.id]);
    });
  });
}
