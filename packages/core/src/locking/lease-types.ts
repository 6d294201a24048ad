/**
 * A lease one owner holds: proof, checked against the database, that it may do a piece of singleton work.
 * Immutable; {@link Leases.renew} returns a new one.
 */
export interface Lease {
  readonly name: string;
  readonly owner: string;
  /**
   * Fencing token: strictly greater than every token issued for this name before. Pass it along with work
   * done under the lease (or call `assertHeld` in the write transaction) so stale holders are fenced off.
   */
  readonly token: bigint;
  /** When the lease stops protecting its holder, in ms since the epoch, by the acquirer's clock. */
  readonly expiresAt: number;
}

/** What the database says about a lease name, for operators and tests ({@link Leases.inspect}). */
export interface LeaseStatus {
  readonly name: string;
  /** The last holder; `null` once released. */
  readonly owner: string | null;
  /** The last token issued for this name. */
  readonly token: bigint;
  readonly expiresAt: number;
  /** When the last token was issued. */
  readonly acquiredAt: number;
  /** True when `owner` is set and `expiresAt` is still ahead of this process's clock. */
  readonly held: boolean;
}
