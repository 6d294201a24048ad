import { type Actor, MarketkitError } from '@marketkit/core';

/** Throws `FORBIDDEN` (403) unless `actor` has `role`: the router's and the console's one refusal. */
export function requireRole(actor: Actor, role: Actor['role'], operation: string): void {
  if (actor.role === role) return;
  const article = /^[aeiou]/.test(role) ? 'an' : 'a';
  throw forbidden(actor, operation, `Only ${article} ${role} may ${operation}.`);
}

/** `FORBIDDEN`, with the actor's role and id and the operation refused in its details. */
export function forbidden(actor: Actor, operation: string, message: string): MarketkitError {
  return new MarketkitError('FORBIDDEN', { message, details: { role: actor.role, actorId: actor.id, operation } });
}
