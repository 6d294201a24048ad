export {
  type AdapterConformanceOptions,
  type ConformanceDatabase,
  type ConnectionKiller,
  runAdapterConformance,
} from './adapter-conformance.js';
