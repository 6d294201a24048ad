export { createWorker, type Worker } from './worker.js';
export type { ExtraPoller, WorkerOptions } from './worker-options.js';
