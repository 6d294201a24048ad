import { z } from 'zod';
import { storableText } from '../../errors/storable-text.js';

/**
 * Who fires a transition. `system` is the host's or the worker's own process (timers, housekeeping). Transitions
 * marked `engine` are fired by Marketkit's sagas only, never through `orders.transition` (see
 * {@link ProcessTransition}).
 */
export const ACTOR_ROLES = ['buyer', 'seller', 'operator', 'system'] as const;
/** A role that may fire a transition: one of {@link ACTOR_ROLES}. */
export type ActorRole = (typeof ACTOR_ROLES)[number];

/**
 * Effects a transition runs in the same database transaction as the state change (or, for payment-provider
 * work, as a durable saga it starts). Each declares what it does to the order's escrow, which is how a
 * process is checked statically: a terminal state must never be reachable with money left in escrow.
 */
export const EFFECTS = {
  reserveStock: { escrow: 'keep' },
  releaseStock: { escrow: 'keep' },
  markStockSold: { escrow: 'keep' },
  authorizePayment: { escrow: 'keep' },
  voidAuthorization: { escrow: 'keep' },
  captureToEscrow: { escrow: 'fill' },
  releaseToSeller: { escrow: 'empty' },
  refundBuyer: { escrow: 'empty' },
  refundBuyerPartial: { escrow: 'keep' },
  freezeEscrow: { escrow: 'keep' },
  resolveSplit: { escrow: 'empty' },
  notify: { escrow: 'keep' },
} as const satisfies Record<string, { escrow: 'keep' | 'fill' | 'empty' }>;
/** The name of an effect: a key of {@link EFFECTS}. */
export type EffectName = keyof typeof EFFECTS;

/** Named guards a transition may require; each is checked against the order inside the transaction. */
export const GUARDS = [
  'isParty',
  'escrowFrozen',
  'escrowNotFrozen',
  'refundWithinEscrow',
  'splitWithinEscrow',
] as const;
/** The name of a guard: one of {@link GUARDS}. */
export type GuardName = (typeof GUARDS)[number];

const name = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-zA-Z0-9_-]*$/, 'must start with a lowercase letter; letters, digits, _ and - only');

const transitionSchema = z.strictObject({
  name,
  from: z.union([name, z.array(name).min(1)]),
  to: name,
  actors: z.array(z.enum(ACTOR_ROLES)).min(1),
  guards: z.array(z.enum(GUARDS)).default([]),
  effects: z.array(z.enum(Object.keys(EFFECTS) as [EffectName, ...EffectName[]])).default([]),
  /**
   * Fired by Marketkit's own sagas only (payment confirmation: the checkout saga fires it with the capture it made).
   * `orders.transition` refuses it with `FORBIDDEN` whatever the role, `system` included. An engine transition lists
   * `system` as its only actor and has no timer; a transition with the `captureToEscrow` effect, and one named
   * `confirmPayment`, must be an engine transition.
   */
  engine: z.boolean().default(false),
  /** Fires automatically this long after the order entered `from` (fired by `system`). */
  afterMs: z
    .number()
    .int()
    .positive()
    .max(10 * 365 * 24 * 3600 * 1000)
    .optional(),
});

const stateSchema = z.strictObject({
  terminal: z.boolean().default(false),
  description: storableText().max(500).optional(),
});

/** The zod schema a transaction process is validated with when it is loaded. */
export const processDefinitionSchema = z.strictObject({
  name,
  version: z.number().int().min(1),
  initial: name,
  states: z.record(name, stateSchema),
  transitions: z.array(transitionSchema).min(1),
});

/** A transaction process as written by a host (defaults optional). */
export type ProcessDefinitionInput = z.input<typeof processDefinitionSchema>;
/** A transaction process after validation. */
export type ProcessDefinition = z.output<typeof processDefinitionSchema>;
/** One transition of a validated process. */
export type ProcessTransition = ProcessDefinition['transitions'][number];
