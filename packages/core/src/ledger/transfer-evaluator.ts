import { ACCOUNT_FLAG, TRANSFER_FLAG, transferFlagBits } from './ledger-flags.js';
import { MAX_INT64 } from './ledger-limits.js';
import type { ParsedTransfer } from './ledger-schemas.js';
import type { AccountState, LedgerSnapshot, PendingState, TransferRecord } from './ledger-state.js';
import type { CreateTransferResult, CreateTransferResultCode } from './transfer-types.js';

/** What a batch changes, to be written in the same transaction. */
export interface BatchOutcome {
  readonly results: CreateTransferResult[];
  readonly created: TransferRecord[];
}

type Undo = () => void;

/**
 * Evaluates a batch against a locked in-memory snapshot, in order, mutating the snapshot as transfers apply.
 * A linked chain is undone as a whole when any of its transfers fails. Pure: no I/O.
 */
export function evaluateTransfers(batch: readonly ParsedTransfer[], state: LedgerSnapshot, now: number): BatchOutcome {
  const results: CreateTransferResult[] = [];
  const created: TransferRecord[] = [];
  let chainStart = -1;
  let undo: Undo[] = [];
  for (let i = 0; i < batch.length; i++) {
    const t = batch[i]!;
    const linked = t.flags?.linked === true;
    if (chainStart < 0 && linked) chainStart = i;
    const open = linked && i === batch.length - 1;
    // Undo steps matter only inside a linked chain (its last transfer included): elsewhere none are made.
    const code = open ? 'linkedEventChainOpen' : applyOne(t, state, now, created, chainStart >= 0 ? undo : undefined);
    results.push({ index: i, id: t.id, result: code });
    const failed = code !== 'ok' && code !== 'exists';
    if (chainStart >= 0 && failed) {
      const createdInChain = results.slice(chainStart, i).filter((r) => r.result === 'ok').length;
      for (let u = undo.length - 1; u >= 0; u--) undo[u]!();
      created.splice(created.length - createdInChain, createdInChain);
      for (let j = chainStart; j < i; j++) results[j] = { index: j, id: batch[j]!.id, result: 'linkedEventFailed' };
      while (i + 1 < batch.length && batch[i]!.flags?.linked === true) {
        i++;
        const open = i === batch.length - 1 && batch[i]!.flags?.linked === true;
        results.push({ index: i, id: batch[i]!.id, result: open ? 'linkedEventChainOpen' : 'linkedEventFailed' });
      }
      chainStart = -1;
      undo = [];
      continue;
    }
    if (!linked) {
      chainStart = -1;
      undo = [];
    }
  }
  return { results, created };
}

function applyOne(
  t: ParsedTransfer,
  state: LedgerSnapshot,
  now: number,
  created: TransferRecord[],
  undo: Undo[] | undefined,
): CreateTransferResultCode {
  const flags = transferFlagBits(t.flags);
  const shape = checkShape(t, flags);
  if (shape !== undefined) return shape;
  const existing = state.transfers.get(t.id);
  if (existing !== undefined) return compareExisting(t, flags, existing);
  const isResolve = (flags & (TRANSFER_FLAG.postPending | TRANSFER_FLAG.voidPending)) !== 0;
  const outcome = isResolve ? resolvePending(t, flags, state, undo) : applyNew(t, flags, state, now, undo);
  if (typeof outcome === 'string') return outcome;
  const record: TransferRecord = { ...outcome, createdAt: now };
  created.push(record);
  state.transfers.set(record.id, record);
  undo?.push(() => state.transfers.delete(record.id));
  return 'ok';
}

function checkShape(t: ParsedTransfer, flags: number): CreateTransferResultCode | undefined {
  const phases = [TRANSFER_FLAG.pending, TRANSFER_FLAG.postPending, TRANSFER_FLAG.voidPending].filter(
    (bit) => (flags & bit) !== 0,
  ).length;
  if (phases > 1) return 'flagsAreMutuallyExclusive';
  const timeout = t.timeoutSeconds ?? 0;
  if ((flags & (TRANSFER_FLAG.postPending | TRANSFER_FLAG.voidPending)) !== 0) {
    if (t.pendingId === undefined) return 'pendingIdRequired';
    if (t.pendingId === t.id) return 'pendingIdMustBeDifferent';
    if (timeout > 0) return 'timeoutReservedForPendingTransfer';
    if (t.amount === 0n) return 'amountMustNotBeZero';
    return undefined;
  }
  if (t.pendingId !== undefined) return 'pendingIdMustBeEmpty';
  if (timeout > 0 && (flags & TRANSFER_FLAG.pending) === 0) return 'timeoutReservedForPendingTransfer';
  if (t.debitAccountId === undefined) return 'debitAccountIdRequired';
  if (t.creditAccountId === undefined) return 'creditAccountIdRequired';
  if (t.amount === undefined) return 'amountRequired';
  if (t.currency === undefined) return 'currencyRequired';
  if (t.debitAccountId === t.creditAccountId) return 'sameDebitAndCreditAccount';
  if (t.amount === 0n) return 'amountMustNotBeZero';
  return undefined;
}

function compareExisting(t: ParsedTransfer, flags: number, e: TransferRecord): CreateTransferResultCode {
  const isResolve = (flags & (TRANSFER_FLAG.postPending | TRANSFER_FLAG.voidPending)) !== 0;
  if (flags !== e.flags) return 'existsWithDifferentFlags';
  if ((t.pendingId ?? null) !== e.pendingId) return 'existsWithDifferentPendingId';
  if (differs(t.debitAccountId, e.debitAccountId, isResolve)) return 'existsWithDifferentDebitAccountId';
  if (differs(t.creditAccountId, e.creditAccountId, isResolve)) return 'existsWithDifferentCreditAccountId';
  if (differs(t.amount, e.amount, isResolve)) return 'existsWithDifferentAmount';
  if (differs(t.currency, e.currency, isResolve)) return 'existsWithDifferentCurrency';
  if (differs(t.code, e.code, isResolve, 0)) return 'existsWithDifferentCode';
  if ((t.reference ?? null) !== e.reference) return 'existsWithDifferentReference';
  if ((t.userData ?? null) !== e.userData) return 'existsWithDifferentUserData';
  if ((t.timeoutSeconds ?? 0) !== e.timeoutSeconds) return 'existsWithDifferentTimeout';
  return 'exists';
}

/** A field left out of a post/void inherits the pending transfer's value, so only a given value can differ. */
function differs<V>(given: V | undefined, stored: V, optional: boolean, fallback?: V): boolean {
  if (given === undefined) return optional ? false : (fallback ?? undefined) !== stored;
  return given !== stored;
}

type NewTransfer = Omit<TransferRecord, 'createdAt'>;

function applyNew(
  t: ParsedTransfer,
  flags: number,
  state: LedgerSnapshot,
  now: number,
  undo: Undo[] | undefined,
): NewTransfer | CreateTransferResultCode {
  const dr = state.accounts.get(t.debitAccountId!);
  const cr = state.accounts.get(t.creditAccountId!);
  if (dr === undefined) return 'debitAccountNotFound';
  if (cr === undefined) return 'creditAccountNotFound';
  if (t.currency !== dr.currency || t.currency !== cr.currency) return 'currencyMismatch';
  const amount = t.amount!;
  if (dr.debitsPending + dr.debitsPosted + amount > MAX_INT64) return 'overflowsDebits';
  if (cr.creditsPending + cr.creditsPosted + amount > MAX_INT64) return 'overflowsCredits';
  if (
    dr.flags & ACCOUNT_FLAG.debitsMustNotExceedCredits &&
    dr.debitsPending + dr.debitsPosted + amount > dr.creditsPosted
  ) {
    return 'exceedsCredits';
  }
  if (
    cr.flags & ACCOUNT_FLAG.creditsMustNotExceedDebits &&
    cr.creditsPending + cr.creditsPosted + amount > cr.debitsPosted
  ) {
    return 'exceedsDebits';
  }
  const pending = (flags & TRANSFER_FLAG.pending) !== 0;
  adjust(dr, pending ? 'debitsPending' : 'debitsPosted', amount, undo);
  adjust(cr, pending ? 'creditsPending' : 'creditsPosted', amount, undo);
  const timeoutSeconds = t.timeoutSeconds ?? 0;
  if (pending) {
    const p: PendingState = {
      id: t.id,
      debitAccountId: dr.id,
      creditAccountId: cr.id,
      amount,
      currency: dr.currency,
      status: 'pending',
      expiresAt: timeoutSeconds > 0 ? now + timeoutSeconds * 1000 : null,
      resolvedById: null,
      isNew: true,
      changed: true,
    };
    state.pendings.set(p.id, p);
    undo?.push(() => state.pendings.delete(p.id));
  }
  return {
    id: t.id,
    debitAccountId: dr.id,
    creditAccountId: cr.id,
    amount,
    currency: dr.currency,
    code: t.code ?? 0,
    reference: t.reference ?? null,
    userData: t.userData ?? null,
    flags,
    pendingId: null,
    timeoutSeconds,
  };
}

function resolvePending(
  t: ParsedTransfer,
  flags: number,
  state: LedgerSnapshot,
  undo: Undo[] | undefined,
): NewTransfer | CreateTransferResultCode {
  const pendingId = t.pendingId!;
  const source = state.transfers.get(pendingId);
  if (source === undefined) return 'pendingTransferNotFound';
  const p = state.pendings.get(pendingId);
  if ((source.flags & TRANSFER_FLAG.pending) === 0 || p === undefined) return 'pendingTransferNotPending';
  if (t.debitAccountId !== undefined && t.debitAccountId !== p.debitAccountId) {
    return 'pendingTransferHasDifferentDebitAccountId';
  }
  if (t.creditAccountId !== undefined && t.creditAccountId !== p.creditAccountId) {
    return 'pendingTransferHasDifferentCreditAccountId';
  }
  if (t.currency !== undefined && t.currency !== p.currency) return 'pendingTransferHasDifferentCurrency';
  if (p.status === 'posted') return 'pendingTransferAlreadyPosted';
  if (p.status === 'voided') return 'pendingTransferAlreadyVoided';
  if (p.status === 'expired') return 'pendingTransferExpired';
  const post = (flags & TRANSFER_FLAG.postPending) !== 0;
  const amount = t.amount ?? p.amount;
  if (post && amount > p.amount) return 'exceedsPendingTransferAmount';
  if (!post && amount !== p.amount) return 'pendingTransferHasDifferentAmount';
  const dr = state.accounts.get(p.debitAccountId);
  const cr = state.accounts.get(p.creditAccountId);
  if (dr === undefined) return 'debitAccountNotFound';
  if (cr === undefined) return 'creditAccountNotFound';
  adjust(dr, 'debitsPending', -p.amount, undo);
  adjust(cr, 'creditsPending', -p.amount, undo);
  if (post) {
    adjust(dr, 'debitsPosted', amount, undo);
    adjust(cr, 'creditsPosted', amount, undo);
  }
  setStatus(p, post ? 'posted' : 'voided', t.id, undo);
  return {
    id: t.id,
    debitAccountId: p.debitAccountId,
    creditAccountId: p.creditAccountId,
    amount,
    currency: p.currency,
    code: t.code ?? source.code,
    reference: t.reference ?? null,
    userData: t.userData ?? null,
    flags,
    pendingId,
    timeoutSeconds: 0,
  };
}

type BalanceField = 'debitsPending' | 'debitsPosted' | 'creditsPending' | 'creditsPosted';

function adjust(a: AccountState, field: BalanceField, delta: bigint, undo: Undo[] | undefined): void {
  const before = a[field];
  const changedBefore = a.changed;
  a[field] = before + delta;
  a.changed = true;
  undo?.push(() => {
    a[field] = before;
    a.changed = changedBefore;
  });
}

function setStatus(p: PendingState, status: PendingState['status'], by: string | null, undo: Undo[] | undefined): void {
  const before = p.status;
  const byBefore = p.resolvedById;
  const changedBefore = p.changed;
  p.status = status;
  p.resolvedById = by;
  p.changed = true;
  undo?.push(() => {
    p.status = before;
    p.resolvedById = byBefore;
    p.changed = changedBefore;
  });
}

/**
 * Expires every loaded pending transfer whose timeout has passed by `now`, releasing its amount; returns how many.
 * Not undone by a failing chain: time moved on.
 */
export function expireDue(state: LedgerSnapshot, now: number): number {
  let expired = 0;
  for (const p of state.pendings.values()) {
    if (p.status === 'pending' && p.expiresAt !== null && p.expiresAt <= now) {
      expirePending(p, state.accounts);
      expired++;
    }
  }
  return expired;
}

function expirePending(p: PendingState, accounts: Map<string, AccountState>): void {
  const dr = accounts.get(p.debitAccountId);
  const cr = accounts.get(p.creditAccountId);
  if (dr === undefined || cr === undefined) return;
  dr.debitsPending -= p.amount;
  cr.creditsPending -= p.amount;
  dr.changed = true;
  cr.changed = true;
  p.status = 'expired';
  p.changed = true;
}
