import type { ProcessDefinition } from './process-definition.js';

/**
 * The engine transition the checkout saga fires when the provider answers that the customer must act (3-D Secure):
 * from the initial state to the state where the order waits for the customer.
 */
export const AWAIT_CUSTOMER = 'awaitCustomer';

const leaves = (from: string | readonly string[], state: string) =>
  typeof from === 'string' ? from === state : from.includes(state);

/**
 * The state an order waits for the customer's action in: where the process's `awaitCustomer` transition goes
 * (`awaitingCustomer` in `purchaseProcess()`), or `undefined` when the process has none (then a payment that needs
 * the customer fails the checkout with `CUSTOMER_ACTION_UNSUPPORTED`, its hold voided).
 */
export function customerActionState(process: ProcessDefinition): string | undefined {
  return process.transitions.find((t) => t.name === AWAIT_CUSTOMER && leaves(t.from, process.initial))?.to;
}

/** Whether an order in `state` still awaits its payment: in the initial state, or waiting for the customer. */
export function awaitsPayment(process: ProcessDefinition, state: string): boolean {
  return state === process.initial || state === customerActionState(process);
}

/** The states in which an order awaits its payment (the initial one, and the customer-action one if declared). */
export function paymentStates(process: ProcessDefinition): readonly string[] {
  const waiting = customerActionState(process);
  return waiting === undefined ? [process.initial] : [process.initial, waiting];
}

/**
 * How long an order waits for the customer: the process's timed transition out of the customer-action state
 * (`expireCustomerAction` in `purchaseProcess()`); `undefined` without that state.
 */
export function customerActionWindowMs(process: ProcessDefinition): number | undefined {
  const state = customerActionState(process);
  if (state === undefined) return undefined;
  return process.transitions.find((t) => t.afterMs !== undefined && leaves(t.from, state))?.afterMs;
}
