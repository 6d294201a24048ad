export { MAX_EXPORT_CURSOR_LENGTH } from './export-cursor.js';
export type { ExportFormat } from './export-format.js';
export {
  DEFAULT_EXPORT_BATCH_SIZE,
  type ExportOptions,
  MAX_EXPORT_BATCH_SIZE,
} from './export-options.js';
export { Exports } from './exports.js';
