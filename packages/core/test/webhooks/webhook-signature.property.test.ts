import {
  DEFAULT_RETRY_SCHEDULE,
  nextAttemptAt,
  retryDelayCap,
  signWebhookBody,
  verifyWebhookSignature,
} from '@marketkit/core';
import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const secrets = fc.array(
  fc.string({ minLength: 1, maxLength: 40 }).map((s) => `whsec_${s}`),
  { minLength: 1, maxLength: 3 },
);
const bodies = fc.oneof(fc.string({ maxLength: 300 }), fc.json({ maxDepth: 3 }));
const times = fc.integer({ min: 1_000_000_000, max: 4_000_000_000 });

describe('webhook signatures', () => {
  it('verify under every signing secret, within the tolerance, and under no other secret', () => {
    fc.assert(
      fc.property(bodies, secrets, times, fc.integer({ min: -300, max: 300 }), (body, keys, t, skew) => {
        const header = signWebhookBody(body, keys, t);
        for (const key of keys) expect(verifyWebhookSignature(body, header, [key], 300, t + skew)).toBe(true);
        expect(verifyWebhookSignature(body, header, keys, 300, t + skew)).toBe(true);
        expect(verifyWebhookSignature(body, header, ['whsec_not-one-of-them-!'], 300, t + skew)).toBe(
          keys.includes('whsec_not-one-of-them-!'),
        );
      }),
      { numRuns: propertyRuns(200) },
    );
  });

  it('never verify a tampered body, a moved timestamp or a stale signature', () => {
    fc.assert(
      fc.property(
        bodies,
        secrets,
        times,
        fc.nat(),
        fc.integer({ min: 1, max: 0xffff }),
        fc.integer({ min: 301, max: 10_000_000 }),
        (body, keys, t, at, flip, late) => {
          const header = signWebhookBody(body, keys, t);
          if (body.length > 0) {
            const i = at % body.length;
            const tampered = body.slice(0, i) + String.fromCharCode(body.charCodeAt(i) ^ flip) + body.slice(i + 1);
            expect(verifyWebhookSignature(tampered, header, keys, 300, t)).toBe(false);
          }
          expect(verifyWebhookSignature(`${body} `, header, keys, 300, t)).toBe(false);
          const moved = header.replace(`t=${t}`, `t=${t + 1}`);
          expect(verifyWebhookSignature(body, moved, keys, 300, t)).toBe(false);
          expect(verifyWebhookSignature(body, header, keys, 300, t + late)).toBe(false);
          expect(verifyWebhookSignature(body, header, keys, 300, t - late)).toBe(false);
        },
      ),
      { numRuns: propertyRuns(200) },
    );
  });

  it('refuse any header that is not t=<seconds> with a v1 signature', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), bodies, (header, body) => {
        fc.pre(!/v1=[0-9a-f]{64}/.test(header));
        expect(verifyWebhookSignature(body, header, ['whsec_x'], 300, 0)).toBe(false);
      }),
      { numRuns: propertyRuns(200) },
    );
    expect(verifyWebhookSignature('{}', undefined, ['whsec_x'])).toBe(false);
    expect(verifyWebhookSignature('{}', null, ['whsec_x'])).toBe(false);
  });
});

describe('the retry schedule', () => {
  const schedules = fc.record({
    baseMs: fc.integer({ min: 1, max: 3_600_000 }),
    maxDelayMs: fc.integer({ min: 1, max: 86_400_000 }),
    windowMs: fc.integer({ min: 0, max: 30 * 86_400_000 }),
  });

  it('waits between 0 and the capped exponential delay, never past the window, and gives up only at its end', () => {
    fc.assert(
      fc.property(
        schedules,
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 0, max: 60 * 86_400_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (schedule, attempts, age, r) => {
          const createdAt = 1_700_000_000_000;
          const now = createdAt + age;
          const cap = retryDelayCap(schedule, attempts);
          expect(cap).toBe(Math.min(schedule.maxDelayMs, schedule.baseMs * 2 ** (attempts - 1)));
          expect(retryDelayCap(schedule, attempts + 1)).toBeGreaterThanOrEqual(cap);
          const at = nextAttemptAt(schedule, attempts, now, createdAt, () => r);
          if (now >= createdAt + schedule.windowMs) {
            expect(at).toBeUndefined();
          } else {
            expect(at).toBeDefined();
            expect(at!).toBeGreaterThanOrEqual(now);
            expect(at! - now).toBeLessThanOrEqual(cap);
            expect(at!).toBeLessThanOrEqual(createdAt + schedule.windowMs);
          }
        },
      ),
      { numRuns: propertyRuns(300) },
    );
  });

  it('with the defaults and any jitter: attempts at least a minute apart, the last at the three days, then given up', () => {
    const { baseMs, windowMs } = DEFAULT_RETRY_SCHEDULE;
    fc.assert(
      fc.property(fc.infiniteStream(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })), (stream) => {
        const draws = stream[Symbol.iterator]();
        const random = () => draws.next().value as number;
        let now = 0;
        let attempts = 1;
        for (;;) {
          const at = nextAttemptAt(DEFAULT_RETRY_SCHEDULE, attempts, now, 0, random);
          if (at === undefined) break;
          if (at < windowMs) expect(at - now).toBeGreaterThanOrEqual(baseMs);
          now = at;
          attempts++;
        }
        expect(now).toBe(windowMs);
        expect(attempts).toBeLessThanOrEqual(windowMs / baseMs + 2);
        expect(attempts).toBeGreaterThanOrEqual(20); // all waits at their cap: 1, 2, … 256 min, then 6 h
      }),
      { numRuns: propertyRuns(100) },
    );
  });
});
