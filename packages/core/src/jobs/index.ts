export {
  defineJob,
  type JobContext,
  type JobDefinition,
  JobRegistry,
  type JobResult,
  type ScheduleJobInput,
} from './job-definition.js';
export type { ClaimedJob, JobInfo } from './job-store.js';
export type { JobStatus } from './job-tables.js';
export { type JobRunOutcome, Jobs } from './jobs.js';
export { LEDGER_EXPIRY_JOB, ledgerExpiryJob, scheduleLedgerExpiry } from './ledger-expiry-job.js';
export { backoffDelay, DEFAULT_RETRY_POLICY, type ErrorClass, type RetryPolicy } from './retry-policy.js';
