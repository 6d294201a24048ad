import { type JwtAuthenticatorOptions, jwtAuthenticator } from '@marketkit/express';
import type { Request } from 'express';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { VerifiedTokenCache } from '../src/verified-token-cache.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const auth = { secret: SECRET, issuer: 'test-shop', audience: 'test-api' } as const;
const T0 = Date.UTC(2026, 0, 1);

async function token(sub: string, o: { exp?: number; nbf?: number; audience?: string } = {}): Promise<string> {
  const jwt = new SignJWT({ role: 'buyer' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuer(auth.issuer)
    .setAudience(o.audience ?? auth.audience);
  if (o.exp !== undefined) jwt.setExpirationTime(o.exp);
  if (o.nbf !== undefined) jwt.setNotBefore(o.nbf);
  return jwt.sign(new TextEncoder().encode(SECRET));
}

const request = (t: string) => ({ headers: { authorization: `Bearer ${t}` } }) as Request;

/** What a caching and a non-caching authenticator answer for `tokens` at each of `times` (ms), in order. */
async function answersOverTime(tokens: string[], times: number[], options: Partial<JwtAuthenticatorOptions> = {}) {
  const cached = jwtAuthenticator({ ...auth, ...options } as JwtAuthenticatorOptions);
  const uncached = jwtAuthenticator({ ...auth, verifiedTokenCache: false });
  const out: { at: number; cached: unknown; uncached: unknown }[] = [];
  for (const at of times) {
    vi.setSystemTime(at);
    for (const t of tokens) {
      out.push({ at, cached: await cached(request(t)), uncached: await uncached(request(t)) });
    }
  }
  return out;
}

describe('jwtAuthenticator: verified tokens answered from memory', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers a cached token exactly as long as jose accepts it: until exp plus the clock tolerance', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const exp = T0 / 1000 + 10;
    const t = await token('alice', { exp });
    // Tolerance 5 s: accepted while now < exp + 5 s.
    const times = [T0, T0 + 9_000, T0 + 14_999, T0 + 15_000, T0 + 20_000, T0 + 1_000];
    const answers = await answersOverTime([t], times);
    for (const a of answers) expect(a.cached).toEqual(a.uncached);
    expect(answers.map((a) => a.cached !== undefined)).toEqual([true, true, true, false, false, true]);
  });

  it('never keeps a rejected token: one used before its nbf is admitted once nbf has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const early = await token('bob', { nbf: T0 / 1000 + 60, exp: T0 / 1000 + 600 });
    const wrongAudience = await token('carol', { exp: T0 / 1000 + 600, audience: 'other-api' });
    const answers = await answersOverTime([early, wrongAudience], [T0, T0 + 30_000, T0 + 61_000, T0 + 62_000]);
    for (const a of answers) expect(a.cached).toEqual(a.uncached);
    expect(answers.map((a) => a.cached !== undefined)).toEqual([false, false, false, false, true, false, true, false]);
  });

  it('keeps answers apart per token, also when entries are evicted (maxEntries 1)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tokens = [await token('alice', { exp: T0 / 1000 + 600 }), await token('dave', { exp: T0 / 1000 + 600 })];
    const answers = await answersOverTime(tokens, [T0, T0 + 1, T0 + 2], { verifiedTokenCache: { maxEntries: 1 } });
    expect(answers.map((a) => (a.cached as { id: string }).id)).toEqual([
      'alice',
      'dave',
      'alice',
      'dave',
      'alice',
      'dave',
    ]);
    for (const a of answers) expect(a.cached).toEqual(a.uncached);
  });

  it('rejects bad cache options', () => {
    expect(() => jwtAuthenticator({ ...auth, verifiedTokenCache: { maxEntries: 0 } })).toThrow();
    expect(() => jwtAuthenticator({ ...auth, verifiedTokenCache: { maxAgeSeconds: -1 } })).toThrow();
  });
});

describe('VerifiedTokenCache', () => {
  const actor = { role: 'buyer', id: 'alice' } as const;

  it('holds an entry for at most maxAgeSeconds, however far its expiry', () => {
    const cache = new VerifiedTokenCache(10, 60);
    cache.set('t', actor, T0 + 3_600_000, T0);
    expect(cache.get('t', T0 + 59_999)).toEqual(actor);
    expect(cache.get('t', T0 + 60_000)).toBeUndefined();
    expect(cache.get('t', T0 + 1)).toBeUndefined(); // dropped once past its bound
  });

  it('holds a token without exp for maxAgeSeconds, and keeps nothing with maxAgeSeconds 0', () => {
    const cache = new VerifiedTokenCache(10, 60);
    cache.set('t', actor, undefined, T0);
    expect(cache.get('t', T0 + 30_000)).toEqual(actor);
    const none = new VerifiedTokenCache(10, 0);
    none.set('t', actor, undefined, T0);
    expect(none.get('t', T0)).toBeUndefined();
  });

  it('evicts the oldest entry past maxEntries', () => {
    const cache = new VerifiedTokenCache(2, 60);
    for (const t of ['a', 'b', 'c']) cache.set(t, actor, undefined, T0);
    expect([cache.get('a', T0), cache.get('b', T0), cache.get('c', T0)]).toEqual([undefined, actor, actor]);
  });
});
