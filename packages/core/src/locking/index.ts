export type { Lease, LeaseStatus } from './lease-types.js';
export { Leases } from './leases.js';
export { type LockMode, type LockRowsOptions, lockRows } from './lock-rows.js';
export { LOCKING_LIMITS } from './locking-limits.js';
export { updateWithVersion, type VersionedTableName, type VersionedUpdate } from './update-with-version.js';
export { type OptimisticRetryOptions, withOptimisticRetry } from './with-optimistic-retry.js';
