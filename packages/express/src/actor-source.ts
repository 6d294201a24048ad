import type { Actor } from '@marketkit/core';
import type { Request } from 'express';

/**
 * Finds who sends a request: the actor, or `undefined` when the request carries no valid credentials (the router
 * answers 401). Roles must come from something the host verified (a session, a signed token), never from what a
 * client merely claims.
 */
export type Authenticate = (req: Request) => Actor | undefined | Promise<Actor | undefined>;
