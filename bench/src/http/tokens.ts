/**
 * The JWTs of `npm run bench -- http`: the server child verifies them with `jwtAuthenticator(BENCH_JWT)`, the
 * load generators sign them once up front (HS256, as the example server's demo sign-in does).
 */
import type { Actor } from '@marketkit/core';
import type { JwtAuthenticatorOptions } from '@marketkit/express';
import { SignJWT } from 'jose';

/** Secret, issuer and audience shared by the server child and the clients. */
export const BENCH_JWT = Object.freeze({
  secret: 'marketkit-http-bench-secret-not-for-production',
  issuer: 'marketkit-bench',
  audience: 'marketkit-bench-api',
}) satisfies JwtAuthenticatorOptions;

/** A bearer token for `actor`, valid for an hour. */
export async function signToken(actor: Actor): Promise<string> {
  return new SignJWT({ role: actor.role })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(actor.id)
    .setIssuer(BENCH_JWT.issuer)
    .setAudience(BENCH_JWT.audience)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(BENCH_JWT.secret));
}
