import { type Actor, MarketkitError } from '@marketkit/core';
import type { Request, RequestHandler } from 'express';
import type { Authenticate } from './actor-source.js';
import { sendProblem } from './http-answers.js';
import { problem } from './problem.js';

const ACTOR = Symbol('marketkit actor');
type WithActor = Request & { [ACTOR]?: Actor };

/**
 * Finds the request's actor with `authenticate` and keeps it for {@link actorOf}; without one answers 401
 * `UNAUTHENTICATED` with `WWW-Authenticate: Bearer`, before the body is read.
 */
export function authenticationMiddleware(authenticate: Authenticate): RequestHandler {
  return (req: WithActor, res, next) => {
    Promise.resolve()
      .then(() => authenticate(req))
      .then((actor) => {
        if (actor === undefined) {
          res.setHeader('WWW-Authenticate', 'Bearer');
          sendProblem(res, problem('UNAUTHENTICATED', 'Authentication is required.'));
          return;
        }
        req[ACTOR] = actor;
        next();
      }, next);
  };
}

/** The actor {@link authenticationMiddleware} found; `INTERNAL` when it did not run. */
export function actorOf(req: Request): Actor {
  const actor = (req as WithActor)[ACTOR];
  if (actor === undefined) throw new MarketkitError('INTERNAL', { message: 'No actor.' });
  return actor;
}
