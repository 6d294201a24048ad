export {
  defineSaga,
  type ExternalSagaStep,
  type LocalSagaStep,
  type LocalStepContext,
  type SagaDefinition,
  type SagaStep,
  type SagaStepContext,
} from './saga-definition.js';
export { SagaRegistry } from './saga-registry.js';
export type { SagaRunOutcome } from './saga-runner.js';
export type { ClaimedSaga } from './saga-store.js';
export type { SagaStatus, SagaStepOutcome } from './saga-tables.js';
export type { SagaInfo, SagaStepEntry, StartSagaOptions } from './saga-types.js';
export { Sagas, sagaResolutionNoteSchema } from './sagas.js';
export { isStepNotReady, StepNotReady } from './step-not-ready.js';
