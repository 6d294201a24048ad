export { Analytics } from './analytics.js';
export { ANALYTICS_LIMITS } from './analytics-limits.js';
export type { DailyFigures, DailyIncidents, DailyInput } from './analytics-types.js';
