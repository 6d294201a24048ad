/**
 * Demo sign-in for the example marketplace: one user per role, and short-lived JWTs signed with `jose` under the
 * same secret, issuer and audience that `jwtAuthenticator` verifies. A real host issues tokens from its own login;
 * never ship a route that hands out tokens for the asking.
 */
import type { Actor } from '@marketkit/core';
import type { JwtAuthenticatorOptions } from '@marketkit/express';
import { SignJWT } from 'jose';

/** The demo's JWT settings: `MARKETKIT_EXAMPLE_JWT_SECRET` or a fixed development secret. */
export const DEMO_JWT = Object.freeze({
  secret: process.env['MARKETKIT_EXAMPLE_JWT_SECRET'] ?? 'marketkit-example-secret-for-local-demos-only',
  issuer: 'marketkit-example',
  audience: 'marketkit-example-api',
}) satisfies JwtAuthenticatorOptions;

/** The three demo users, by role: who the storefront's sign-in offers. */
export const DEMO_USERS = Object.freeze({
  buyer: Object.freeze({ role: 'buyer', id: 'alice' }),
  seller: Object.freeze({ role: 'seller', id: 'bob' }),
  operator: Object.freeze({ role: 'operator', id: 'ops' }),
} as const satisfies Record<string, Actor>);

/** A role the demo can sign in as. */
export type DemoRole = keyof typeof DEMO_USERS;

/** Whether `role` names one of {@link DEMO_USERS}. */
export function isDemoRole(role: unknown): role is DemoRole {
  return typeof role === 'string' && Object.hasOwn(DEMO_USERS, role);
}

/** A JWT for the demo user of `role`, valid for two hours. */
export async function issueDemoToken(role: DemoRole): Promise<{ token: string; actor: Actor }> {
  const actor = DEMO_USERS[role];
  const token = await new SignJWT({ role: actor.role })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(actor.id)
    .setIssuer(DEMO_JWT.issuer)
    .setAudience(DEMO_JWT.audience)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(DEMO_JWT.secret));
  return { token, actor };
}
