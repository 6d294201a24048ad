import { parseInput, ValidationError, type ValidationIssue } from '../../errors/validation-error.js';
import { AWAIT_CUSTOMER } from './customer-action-state.js';
import {
  EFFECTS,
  type ProcessDefinition,
  type ProcessDefinitionInput,
  type ProcessTransition,
  processDefinitionSchema,
} from './process-definition.js';

type Escrow = 'empty' | 'held';

/**
 * Validates a transaction process: its shape (zod), then its meaning — every transition names known states,
 * names are unique, engine transitions (fired by
 * Marketkit's sagas only) are untimed `system` transitions and every capture into escrow is one, every state is reachable from the initial state, terminal states have no way out, every
 * non-terminal state has one, and no terminal state can be entered with money still in escrow (escrow effects
 * are followed along every path). Throws `ValidationError` (VALIDATION_FAILED) listing every problem.
 *
 * @example
 * ```ts
 * const process = defineProcess({ name: 'rental', version: 1, initial: 'requested', states: {...}, transitions: [...] });
 * ```
 */
export function defineProcess(input: ProcessDefinitionInput): ProcessDefinition {
  const def = parseInput(processDefinitionSchema, input, 'transaction process');
  const issues = [...checkNames(def), ...checkCheckout(def), ...checkReachability(def), ...checkEscrow(def)];
  if (issues.length > 0) {
    throw new ValidationError(
      issues,
      `Invalid transaction process ${def.name}: ${issues.map((i) => i.message).join('; ')}`,
    );
  }
  return Object.freeze(def);
}

function fromList(from: string | readonly string[]): readonly string[] {
  return typeof from === 'string' ? [from] : from;
}

function checkNames(def: ProcessDefinition): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const states = new Set(Object.keys(def.states));
  if (!states.has(def.initial))
    issues.push({ path: ['initial'], message: `initial state ${def.initial} is not declared` });
  const seen = new Set<string>();
  def.transitions.forEach((t, i) => {
    if (seen.has(t.name))
      issues.push({ path: ['transitions', i, 'name'], message: `transition ${t.name} is declared twice` });
    seen.add(t.name);
    for (const f of fromList(t.from)) {
      if (!states.has(f))
        issues.push({ path: ['transitions', i, 'from'], message: `transition ${t.name} leaves unknown state ${f}` });
      else if (def.states[f]?.terminal) {
        issues.push({ path: ['transitions', i, 'from'], message: `transition ${t.name} leaves terminal state ${f}` });
      }
    }
    if (!states.has(t.to))
      issues.push({ path: ['transitions', i, 'to'], message: `transition ${t.name} goes to unknown state ${t.to}` });
    issues.push(...checkEngine(t, i));
    if (t.afterMs !== undefined && !t.actors.includes('system')) {
      issues.push({
        path: ['transitions', i, 'actors'],
        message: `timed transition ${t.name} must allow the system actor`,
      });
    }
  });
  return issues;
}

/** The transition the checkout saga confirms a payment by; it must be an engine transition. */
const CONFIRM_PAYMENT = 'confirmPayment';
/** The transition the checkout saga cancels an unpaid order by when it compensates. */
const CANCEL_UNPAID = 'cancelUnpaid';

/**
 * Every checkout runs the `marketkit.checkout` saga, which leaves the initial state by two transitions of the
 * process: `confirmPayment` (engine, capturing into escrow) and `cancelUnpaid` (to a terminal state).
 */
function checkCheckout(def: ProcessDefinition): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const leavingInitial = (name: string) =>
    def.transitions.find((t) => t.name === name && fromList(t.from).includes(def.initial));
  const confirm = leavingInitial(CONFIRM_PAYMENT);
  if (confirm === undefined || !confirm.effects.includes('captureToEscrow'))
    issues.push({
      path: ['transitions'],
      message: `the checkout saga needs an engine transition ${CONFIRM_PAYMENT} from ${def.initial} with the captureToEscrow effect`,
    });
  const cancel = leavingInitial(CANCEL_UNPAID);
  if (cancel === undefined || def.states[cancel.to]?.terminal !== true)
    issues.push({
      path: ['transitions'],
      message: `the checkout saga needs a transition ${CANCEL_UNPAID} from ${def.initial} to a terminal state`,
    });
  return [...issues, ...checkCustomerAction(def)];
}

/**
 * A process that can wait for the customer (3-D Secure) declares an engine transition `awaitCustomer` from the
 * initial state to a non-terminal waiting state; from there the checkout saga needs `confirmPayment` (capturing into
 * escrow) and `cancelUnpaid` (to a terminal state), and a timed transition to a terminal state that voids the hold
 * and releases the stock, so that a customer who never acts does not hold stock and money forever. A process without
 * `awaitCustomer` is valid too: a payment that needs the customer then fails its checkout
 * (`CUSTOMER_ACTION_UNSUPPORTED`) and its hold is voided.
 */
function checkCustomerAction(def: ProcessDefinition): ValidationIssue[] {
  const awaitIndex = def.transitions.findIndex((t) => t.name === AWAIT_CUSTOMER);
  const wait = def.transitions[awaitIndex];
  if (wait === undefined) return [];
  const at = (field: string) => ['transitions', awaitIndex, field];
  const issues: ValidationIssue[] = [];
  if (!wait.engine)
    issues.push({
      path: at('engine'),
      message: `transition ${AWAIT_CUSTOMER} is fired by the checkout saga: mark it engine`,
    });
  if (fromList(wait.from).length !== 1 || fromList(wait.from)[0] !== def.initial)
    issues.push({ path: at('from'), message: `transition ${AWAIT_CUSTOMER} must leave ${def.initial} only` });
  if (wait.effects.length > 0)
    issues.push({ path: at('effects'), message: `transition ${AWAIT_CUSTOMER} moves no money or stock: no effects` });
  const state = wait.to;
  if (state === def.initial || def.states[state] === undefined || def.states[state].terminal) {
    issues.push({ path: at('to'), message: `transition ${AWAIT_CUSTOMER} must go to a non-terminal waiting state` });
    return issues;
  }
  const leaving = (pred: (t: ProcessTransition) => boolean) =>
    def.transitions.some((t) => fromList(t.from).includes(state) && pred(t));
  if (!leaving((t) => t.name === CONFIRM_PAYMENT && t.effects.includes('captureToEscrow')))
    issues.push({
      path: ['transitions'],
      message: `the checkout saga needs ${CONFIRM_PAYMENT} (captureToEscrow) from ${state}, the state ${AWAIT_CUSTOMER} enters`,
    });
  if (!leaving((t) => t.name === CANCEL_UNPAID && def.states[t.to]?.terminal === true))
    issues.push({
      path: ['transitions'],
      message: `the checkout saga needs ${CANCEL_UNPAID} from ${state} to a terminal state`,
    });
  const releases = (t: ProcessTransition) =>
    def.states[t.to]?.terminal === true &&
    t.effects.includes('voidAuthorization') &&
    t.effects.includes('releaseStock');
  if (!leaving((t) => t.afterMs !== undefined && releases(t)))
    issues.push({
      path: ['states', state],
      message: `state ${state} needs a timed transition to a terminal state with voidAuthorization and releaseStock (a customer who never acts)`,
    });
  const others = def.transitions.filter(
    (t) => fromList(t.from).includes(state) && t.name !== CONFIRM_PAYMENT && t.name !== CANCEL_UNPAID && !releases(t),
  );
  for (const t of others)
    issues.push({
      path: ['transitions', def.transitions.indexOf(t), 'from'],
      message: `transition ${t.name} leaves ${state}, where the checkout saga waits for the customer: only ${CONFIRM_PAYMENT} and cancellations (to a terminal state, voidAuthorization and releaseStock) may`,
    });
  return issues;
}

/** An engine transition is fired by Marketkit's sagas only: as `system`, untimed; money captured only through one. */
function checkEngine(t: ProcessTransition, i: number): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const at = (field: string) => ['transitions', i, field];
  if (t.engine) {
    if (t.actors.length !== 1 || t.actors[0] !== 'system')
      issues.push({ path: at('actors'), message: `engine transition ${t.name} must list system as its only actor` });
    if (t.afterMs !== undefined)
      issues.push({ path: at('afterMs'), message: `engine transition ${t.name} cannot be timed` });
    return issues;
  }
  if (t.effects.includes('captureToEscrow'))
    issues.push({
      path: at('engine'),
      message: `transition ${t.name} captures into escrow, which only the checkout saga can do: mark it engine`,
    });
  if (t.name === CONFIRM_PAYMENT)
    issues.push({ path: at('engine'), message: `transition ${t.name} is fired by the checkout saga: mark it engine` });
  return issues;
}

function checkReachability(def: ProcessDefinition): ValidationIssue[] {
  const reached = new Set([def.initial]);
  const queue = [def.initial];
  while (queue.length > 0) {
    const s = queue.shift()!;
    for (const t of def.transitions) {
      if (fromList(t.from).includes(s) && !reached.has(t.to)) {
        reached.add(t.to);
        queue.push(t.to);
      }
    }
  }
  const issues: ValidationIssue[] = [];
  for (const [state, spec] of Object.entries(def.states)) {
    if (!reached.has(state))
      issues.push({ path: ['states', state], message: `state ${state} is unreachable from ${def.initial}` });
    const leaves = def.transitions.some((t) => fromList(t.from).includes(state));
    if (!spec.terminal && !leaves)
      issues.push({ path: ['states', state], message: `non-terminal state ${state} has no way out` });
  }
  return issues;
}

/** Follows escrow along every path: the set of escrow conditions each state can be entered with. */
function checkEscrow(def: ProcessDefinition): ValidationIssue[] {
  const possible = new Map<string, Set<Escrow>>([[def.initial, new Set<Escrow>(['empty'])]]);
  const queue: [string, Escrow][] = [[def.initial, 'empty']];
  while (queue.length > 0) {
    const [state, escrow] = queue.shift()!;
    for (const t of def.transitions) {
      if (!fromList(t.from).includes(state)) continue;
      let next: Escrow = escrow;
      for (const e of t.effects) {
        const kind = EFFECTS[e].escrow;
        if (kind === 'fill') next = 'held';
        else if (kind === 'empty') next = 'empty';
      }
      const set = possible.get(t.to) ?? new Set<Escrow>();
      if (!set.has(next)) {
        set.add(next);
        possible.set(t.to, set);
        queue.push([t.to, next]);
      }
    }
  }
  const issues: ValidationIssue[] = [];
  for (const [state, spec] of Object.entries(def.states)) {
    if (spec.terminal && possible.get(state)?.has('held')) {
      issues.push({
        path: ['states', state],
        message: `terminal state ${state} can be reached with money left in escrow`,
      });
    }
  }
  return issues;
}
