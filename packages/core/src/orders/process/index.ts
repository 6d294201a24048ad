export {
  AWAIT_CUSTOMER,
  awaitsPayment,
  customerActionState,
  customerActionWindowMs,
  paymentStates,
} from './customer-action-state.js';
export { purchaseProcess } from './default-purchase-process.js';
export {
  ACTOR_ROLES,
  type ActorRole,
  EFFECTS,
  type EffectName,
  GUARDS,
  type GuardName,
  type ProcessDefinition,
  type ProcessDefinitionInput,
  type ProcessTransition,
  processDefinitionSchema,
} from './process-definition.js';
export { defineProcess } from './process-validation.js';
