import type { IncomingMessage } from 'node:http';
import { type Actor, parseInput } from '@marketkit/core';
import type { Request } from 'express';
import { z } from 'zod';
import type { Authenticate } from '../actor-source.js';

/** What a browser sends first, since it cannot set an `Authorization` header on a WebSocket. @internal */
export interface AuthMessage {
  readonly token: string;
  readonly lastEventId: string | undefined;
}

const authMessageSchema = z.strictObject({
  type: z.literal('auth'),
  token: z
    .string()
    .min(1)
    .max(8192)
    .regex(/^[\x21-\x7e]+$/, 'a token of visible ASCII characters'),
  lastEventId: z.string().max(64).optional(),
});

/** Reads the auth message; anything else throws `VALIDATION_FAILED`. @internal */
export function parseAuthMessage(text: string): AuthMessage {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const m = parseInput(authMessageSchema, json, 'auth message');
  return { token: m.token, lastEventId: m.lastEventId };
}

/**
 * Runs the host's `authenticate` on the upgrade request, with `Authorization: Bearer <token>` when the token came in
 * the auth message. The request is Node's `IncomingMessage` with Express's `get`/`header` added: an authenticator
 * that reads headers (as {@link jwtAuthenticator} does) works unchanged; one that needs the rest of Express's
 * request (cookies parsed by middleware, `req.ip`) does not get it here. @internal
 */
export async function authenticateUpgrade(
  authenticate: Authenticate,
  req: IncomingMessage,
  token: string | undefined,
): Promise<Actor | undefined> {
  const headers = token === undefined ? req.headers : { ...req.headers, authorization: `Bearer ${token}` };
  const get = (name: string): string | undefined => {
    const value = headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const request = Object.assign(Object.create(req) as IncomingMessage, { headers, get, header: get });
  return authenticate(request as unknown as Request);
}
