import type { AccountInput, CreateAccountResultCode, CreateTransferResultCode, TransferInput } from '@marketkit/core';

/**
 * A small in-memory model of the ledger, written from the documented semantics (TigerBeetle-like) and not from
 * the evaluator, for model-based tests. Linked chains are rolled back by restoring a copy of the whole state.
 *
 * Readings of the semantics where they leave room:
 * - A batch expires every due pending transfer that one of its items names in `pendingId` before it evaluates
 *   anything (whatever that item's flags), and a failing chain does not undo that expiry.
 * - As in TigerBeetle, the last item of a batch gets `linkedEventChainOpen` whenever it is `linked`, even when its
 *   chain already failed earlier; the other items of a failed chain get `linkedEventFailed`.
 * - The order of result codes within one transfer follows the documented precedence: shape, then `exists…`,
 *   then accounts, currency, overflow and limits (or, for a post/void, the pending transfer's checks).
 */

const MAX_INT64 = 2n ** 63n - 1n;

export interface ModelAccount {
  readonly id: string;
  readonly currency: string;
  readonly code: number;
  readonly debitsMustNotExceedCredits: boolean;
  readonly creditsMustNotExceedDebits: boolean;
  readonly ownerId: string | null;
  readonly userData: string | null;
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
}

interface ModelFlags {
  readonly linked: boolean;
  readonly pending: boolean;
  readonly post: boolean;
  readonly void: boolean;
}

/** A committed transfer as the ledger stores it (fields a post/void leaves out are inherited). */
export interface StoredTransfer {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly code: number;
  readonly reference: string | null;
  readonly userData: string | null;
  readonly flags: ModelFlags;
  readonly pendingId: string | null;
  readonly timeoutSeconds: number;
  /** The batch's clock reading. */
  readonly createdAt: number;
}

export interface ModelPending {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  status: 'pending' | 'posted' | 'voided' | 'expired';
  readonly expiresAt: number | null;
}

interface ModelState {
  accounts: Map<string, ModelAccount>;
  transfers: Map<string, StoredTransfer>;
  pendings: Map<string, ModelPending>;
  /** Inputs of committed transfers in commit order, for exact replays. */
  committed: TransferInput[];
}

const FAILED_CHAIN: CreateTransferResultCode = 'linkedEventFailed';

function flagsOf(t: TransferInput): ModelFlags {
  return {
    linked: t.flags?.linked === true,
    pending: t.flags?.pending === true,
    post: t.flags?.postPending === true,
    void: t.flags?.voidPending === true,
  };
}

function sameFlags(a: ModelFlags, b: ModelFlags): boolean {
  return a.linked === b.linked && a.pending === b.pending && a.post === b.post && a.void === b.void;
}

function amountOf(t: TransferInput): bigint | undefined {
  return t.amount === undefined ? undefined : BigInt(t.amount);
}

function copyState(s: ModelState): ModelState {
  return {
    accounts: new Map([...s.accounts].map(([k, a]) => [k, { ...a }])),
    transfers: new Map(s.transfers),
    pendings: new Map([...s.pendings].map(([k, p]) => [k, { ...p }])),
    committed: [...s.committed],
  };
}

export class LedgerModel {
  #s: ModelState = { accounts: new Map(), transfers: new Map(), pendings: new Map(), committed: [] };
  readonly #accountInputs = new Map<string, AccountInput>();

  get accounts(): ReadonlyMap<string, ModelAccount> {
    return this.#s.accounts;
  }

  get pendings(): ReadonlyMap<string, ModelPending> {
    return this.#s.pendings;
  }

  /** Every committed transfer as stored. */
  get stored(): readonly StoredTransfer[] {
    return [...this.#s.transfers.values()];
  }

  /** Inputs exactly as sent of every committed transfer, in commit order. */
  get committed(): readonly TransferInput[] {
    return this.#s.committed;
  }

  /** The input an account was created with. */
  accountInput(id: string): AccountInput | undefined {
    return this.#accountInputs.get(id);
  }

  isTransfer(id: string): boolean {
    return this.#s.transfers.has(id);
  }

  createAccounts(batch: readonly AccountInput[]): CreateAccountResultCode[] {
    return batch.map((a) => {
      const dr = a.flags?.debitsMustNotExceedCredits === true;
      const cr = a.flags?.creditsMustNotExceedDebits === true;
      if (dr && cr) return 'flagsAreMutuallyExclusive';
      const e = this.#s.accounts.get(a.id);
      if (e !== undefined) {
        if (a.currency !== e.currency) return 'existsWithDifferentCurrency';
        if (a.code !== e.code) return 'existsWithDifferentCode';
        if (dr !== e.debitsMustNotExceedCredits || cr !== e.creditsMustNotExceedDebits) {
          return 'existsWithDifferentFlags';
        }
        if ((a.ownerId ?? null) !== e.ownerId) return 'existsWithDifferentOwnerId';
        if ((a.userData ?? null) !== e.userData) return 'existsWithDifferentUserData';
        return 'exists';
      }
      this.#s.accounts.set(a.id, {
        id: a.id,
        currency: a.currency,
        code: a.code,
        debitsMustNotExceedCredits: dr,
        creditsMustNotExceedDebits: cr,
        ownerId: a.ownerId ?? null,
        userData: a.userData ?? null,
        debitsPending: 0n,
        debitsPosted: 0n,
        creditsPending: 0n,
        creditsPosted: 0n,
      });
      this.#accountInputs.set(a.id, a);
      return 'ok';
    });
  }

  /** Releases every due pending transfer (at most `limit`, lowest ids first) and returns how many. */
  expireDue(now: number, limit = Number.POSITIVE_INFINITY): number {
    const due = [...this.#s.pendings.values()]
      .filter((p) => p.status === 'pending' && p.expiresAt !== null && p.expiresAt <= now)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, limit);
    for (const p of due) this.#expire(p);
    return due.length;
  }

  #expire(p: ModelPending): void {
    p.status = 'expired';
    const dr = this.#s.accounts.get(p.debitAccountId)!;
    const cr = this.#s.accounts.get(p.creditAccountId)!;
    dr.debitsPending -= p.amount;
    cr.creditsPending -= p.amount;
  }

  /** One result code per transfer, applying the batch as one unit with linked chains all-or-nothing. */
  createTransfers(batch: readonly TransferInput[], now: number): CreateTransferResultCode[] {
    // A batch naming a due pending transfer expires it before anything is evaluated.
    for (const t of batch) {
      const p = t.pendingId === undefined ? undefined : this.#s.pendings.get(t.pendingId);
      if (p?.status === 'pending' && p.expiresAt !== null && p.expiresAt <= now) this.#expire(p);
    }
    const results: CreateTransferResultCode[] = [];
    let chainStart: number | undefined;
    let saved: ModelState | undefined;
    let broken = false;
    batch.forEach((t, i) => {
      const linked = t.flags?.linked === true;
      if (linked && chainStart === undefined) {
        chainStart = i;
        saved = copyState(this.#s);
      }
      let code: CreateTransferResultCode;
      if (linked && i === batch.length - 1) code = 'linkedEventChainOpen';
      else if (broken) code = FAILED_CHAIN;
      else code = this.#apply(t, now);
      results.push(code);
      if (chainStart !== undefined && !broken && code !== 'ok' && code !== 'exists') {
        this.#s = saved!;
        for (let j = chainStart; j < i; j++) results[j] = FAILED_CHAIN;
        broken = true;
      }
      if (!linked) {
        chainStart = undefined;
        saved = undefined;
        broken = false;
      }
    });
    return results;
  }

  #apply(t: TransferInput, now: number): CreateTransferResultCode {
    const flags = flagsOf(t);
    const shape = shapeError(t, flags);
    if (shape !== undefined) return shape;
    const existing = this.#s.transfers.get(t.id);
    if (existing !== undefined) return compareWithExisting(t, flags, existing);
    const stored = flags.post || flags.void ? this.#resolve(t, flags, now) : this.#applyNew(t, flags, now);
    if (typeof stored === 'string') return stored;
    this.#s.transfers.set(stored.id, stored);
    this.#s.committed.push(t);
    return 'ok';
  }

  #applyNew(t: TransferInput, flags: ModelFlags, now: number): StoredTransfer | CreateTransferResultCode {
    const dr = this.#s.accounts.get(t.debitAccountId!);
    const cr = this.#s.accounts.get(t.creditAccountId!);
    if (dr === undefined) return 'debitAccountNotFound';
    if (cr === undefined) return 'creditAccountNotFound';
    if (t.currency !== dr.currency || t.currency !== cr.currency) return 'currencyMismatch';
    const amount = amountOf(t)!;
    const drDebits = dr.debitsPending + dr.debitsPosted + amount;
    const crCredits = cr.creditsPending + cr.creditsPosted + amount;
    if (drDebits > MAX_INT64) return 'overflowsDebits';
    if (crCredits > MAX_INT64) return 'overflowsCredits';
    if (dr.debitsMustNotExceedCredits && drDebits > dr.creditsPosted) return 'exceedsCredits';
    if (cr.creditsMustNotExceedDebits && crCredits > cr.debitsPosted) return 'exceedsDebits';
    const timeoutSeconds = t.timeoutSeconds ?? 0;
    if (flags.pending) {
      dr.debitsPending += amount;
      cr.creditsPending += amount;
      this.#s.pendings.set(t.id, {
        id: t.id,
        debitAccountId: dr.id,
        creditAccountId: cr.id,
        amount,
        currency: dr.currency,
        status: 'pending',
        expiresAt: timeoutSeconds > 0 ? now + timeoutSeconds * 1000 : null,
      });
    } else {
      dr.debitsPosted += amount;
      cr.creditsPosted += amount;
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
      createdAt: now,
    };
  }

  #resolve(t: TransferInput, flags: ModelFlags, now: number): StoredTransfer | CreateTransferResultCode {
    const pendingId = t.pendingId!;
    const source = this.#s.transfers.get(pendingId);
    if (source === undefined) return 'pendingTransferNotFound';
    const p = this.#s.pendings.get(pendingId);
    if (!source.flags.pending || p === undefined) return 'pendingTransferNotPending';
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
    const amount = amountOf(t) ?? p.amount;
    if (flags.post && amount > p.amount) return 'exceedsPendingTransferAmount';
    if (flags.void && amount !== p.amount) return 'pendingTransferHasDifferentAmount';
    const dr = this.#s.accounts.get(p.debitAccountId)!;
    const cr = this.#s.accounts.get(p.creditAccountId)!;
    dr.debitsPending -= p.amount;
    cr.creditsPending -= p.amount;
    if (flags.post) {
      dr.debitsPosted += amount;
      cr.creditsPosted += amount;
    }
    p.status = flags.post ? 'posted' : 'voided';
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
      createdAt: now,
    };
  }
}

function shapeError(t: TransferInput, flags: ModelFlags): CreateTransferResultCode | undefined {
  if (Number(flags.pending) + Number(flags.post) + Number(flags.void) > 1) return 'flagsAreMutuallyExclusive';
  const timeout = t.timeoutSeconds ?? 0;
  const amount = amountOf(t);
  if (flags.post || flags.void) {
    if (t.pendingId === undefined) return 'pendingIdRequired';
    if (t.pendingId === t.id) return 'pendingIdMustBeDifferent';
    if (timeout > 0) return 'timeoutReservedForPendingTransfer';
    if (amount === 0n) return 'amountMustNotBeZero';
    return undefined;
  }
  if (t.pendingId !== undefined) return 'pendingIdMustBeEmpty';
  if (timeout > 0 && !flags.pending) return 'timeoutReservedForPendingTransfer';
  if (t.debitAccountId === undefined) return 'debitAccountIdRequired';
  if (t.creditAccountId === undefined) return 'creditAccountIdRequired';
  if (amount === undefined) return 'amountRequired';
  if (t.currency === undefined) return 'currencyRequired';
  if (t.debitAccountId === t.creditAccountId) return 'sameDebitAndCreditAccount';
  if (amount === 0n) return 'amountMustNotBeZero';
  return undefined;
}

/** A retry must repeat every field it gives; a post/void may leave out what it inherits from the pending one. */
function compareWithExisting(t: TransferInput, flags: ModelFlags, e: StoredTransfer): CreateTransferResultCode {
  const inherits = flags.post || flags.void;
  const differs = <V>(given: V | undefined, stored: V, absent: V | undefined): boolean =>
    given === undefined ? !inherits && absent !== stored : given !== stored;
  if (!sameFlags(flags, e.flags)) return 'existsWithDifferentFlags';
  if ((t.pendingId ?? null) !== e.pendingId) return 'existsWithDifferentPendingId';
  if (differs(t.debitAccountId, e.debitAccountId, undefined)) return 'existsWithDifferentDebitAccountId';
  if (differs(t.creditAccountId, e.creditAccountId, undefined)) return 'existsWithDifferentCreditAccountId';
  if (differs(amountOf(t), e.amount, undefined)) return 'existsWithDifferentAmount';
  if (differs(t.currency, e.currency, undefined)) return 'existsWithDifferentCurrency';
  if (differs(t.code, e.code, 0)) return 'existsWithDifferentCode';
  if ((t.reference ?? null) !== e.reference) return 'existsWithDifferentReference';
  if ((t.userData ?? null) !== e.userData) return 'existsWithDifferentUserData';
  if ((t.timeoutSeconds ?? 0) !== e.timeoutSeconds) return 'existsWithDifferentTimeout';
  return 'exists';
}
