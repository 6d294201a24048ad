import type { Kysely } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { AccountInput } from '../ledger/account-types.js';
import type { Ledger } from '../ledger/ledger.js';
import type { AccountState } from '../ledger/ledger-state.js';
import type { TransferInput } from '../ledger/transfer-types.js';
import type { CommissionRule } from '../listings/listing-types.js';
import { amountNotRepresentable } from '../money/int64-amount.js';
import { Money } from '../money/money.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toBigInt } from '../storage/int64.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { commissionOn } from './commission.js';
import { escrowAccounts as acct, ESCROW_ACCOUNT_CODES, ESCROW_CODES } from './escrow-accounts.js';

/** The money left in an order's escrow account, in minor units (0 before anything was captured). */
export async function escrowMinor(db: Kysely<MarketkitDatabase>, orderId: string): Promise<bigint> {
  const row = await db
    .selectFrom('accounts')
    .select(['credits_posted', 'debits_posted', 'debits_pending'])
    .where('id', '=', acct.escrow(orderId))
    .executeTakeFirst();
  return row === undefined
    ? 0n
    : toBigInt(row.credits_posted) - toBigInt(row.debits_posted) - toBigInt(row.debits_pending);
}

/** Divides an escrow balance: `buyerPercent` % back to the buyer, the rest to the seller, to the minor unit. */
export function splitEscrow(balance: Money, buyerPercent: number): [Money, Money] {
  const [buyer, seller] = balance.allocate([buyerPercent, 100 - buyerPercent]);
  return [buyer ?? Money.zero(balance.currency), seller ?? Money.zero(balance.currency)];
}

/** The accounts an order's money can touch, as {@link Escrow.openAccounts} creates them. */
export function orderAccounts(order: EscrowOrder): AccountInput[] {
  const c = order.currency;
  const flagged = { debitsMustNotExceedCredits: true };
  return [
    { id: acct.clearing(c), currency: c, code: ESCROW_ACCOUNT_CODES.clearing, ownerId: 'platform' },
    { id: acct.commission(c), currency: c, code: ESCROW_ACCOUNT_CODES.commission, ownerId: 'platform', flags: flagged },
    {
      id: acct.seller(order.sellerId, c),
      currency: c,
      code: ESCROW_ACCOUNT_CODES.seller,
      ownerId: order.sellerId,
      flags: flagged,
    },
    { id: acct.escrow(order.id), currency: c, code: ESCROW_ACCOUNT_CODES.escrow, ownerId: order.id, flags: flagged },
  ];
}

/** The transfer that records an order's captured payment in its escrow. */
function captureTransfer(order: EscrowOrder, amount: Money): TransferInput {
  return {
    id: `${order.id}:capture`,
    debitAccountId: acct.clearing(order.currency),
    creditAccountId: acct.escrow(order.id),
    amount: amount.minor,
    currency: order.currency,
    code: ESCROW_CODES.capture,
    reference: order.id,
  };
}

/** The order fields escrow needs. */
export interface EscrowOrder {
  readonly id: string;
  readonly sellerId: string;
  readonly currency: string;
}

/**
 * Escrow effects, each inside the caller's transaction: captured funds sit in the order's escrow account; a
 * release pays the seller the balance minus commission and the platform the commission; refunds return funds to
 * the buyer (through the provider's clearing account); a split divides the balance. Transfer ids derive from the
 * order and the order event, so a re-run effect reports `exists` and moves nothing twice.
 */
export class Escrow {
  readonly #ledger: Ledger;
  constructor(ledger: Ledger) {
    this.#ledger = ledger;
  }

  /** Opens the accounts an order's money can touch (idempotent). */
  async openAccounts(trx: MarketkitTransaction, order: EscrowOrder): Promise<void> {
    await this.#ledger.createAccountsIn(trx, orderAccounts(order));
  }

  /**
   * The values of the capture of {@link Escrow.capture} for the ledger's compiled transfer CTEs named `name`, with
   * its outbox events, or `undefined` where the ledger cannot write it so. See `Ledger.postedTransferValues`.
   */
  captureValues(order: EscrowOrder, amount: Money, now: number, name: string) {
    return this.#ledger.postedTransferValues(captureTransfer(order, amount), now, name);
  }

  /** The money still in the order's escrow. */
  async balance(trx: MarketkitTransaction, order: EscrowOrder): Promise<Money> {
    return Money.fromMinor(await escrowMinor(trx, order.id), order.currency);
  }

  /** Records the captured payment in escrow; returns the escrow balance after it, in minor units. */
  async capture(trx: MarketkitTransaction, order: EscrowOrder, amount: Money): Promise<bigint> {
    const accounts = await this.#move(trx, [captureTransfer(order, amount)]);
    const escrow = accounts.get(acct.escrow(order.id));
    return escrow === undefined ? 0n : escrow.creditsPosted - escrow.debitsPosted - escrow.debitsPending;
  }

  /** Pays out the whole balance: seller gets balance − commission, the platform the commission. Returns the commission. */
  async release(trx: MarketkitTransaction, order: EscrowOrder, rule: CommissionRule, tag: string): Promise<Money> {
    const balance = await this.balance(trx, order);
    return this.#paySeller(trx, order, balance, rule, tag);
  }

  /** Returns `amount` from escrow to the buyer. */
  async refund(trx: MarketkitTransaction, order: EscrowOrder, amount: Money, tag: string): Promise<void> {
    if (amount.isZero()) return;
    await this.#move(trx, [
      {
        id: `${order.id}:refund:${tag}`,
        debitAccountId: acct.escrow(order.id),
        creditAccountId: acct.clearing(order.currency),
        amount: amount.minor,
        currency: order.currency,
        code: ESCROW_CODES.refund,
        reference: order.id,
      },
    ]);
  }

  /** Pays `share` of the escrow to the seller minus commission. Returns the commission. */
  async paySellerShare(
    trx: MarketkitTransaction,
    order: EscrowOrder,
    share: Money,
    rule: CommissionRule,
    tag: string,
  ): Promise<Money> {
    return this.#paySeller(trx, order, share, rule, tag);
  }

  async #paySeller(
    trx: MarketkitTransaction,
    order: EscrowOrder,
    base: Money,
    rule: CommissionRule,
    tag: string,
  ): Promise<Money> {
    if (base.isZero()) return base;
    const fee = commissionOn(base, rule);
    const net = base.subtract(fee);
    const c = order.currency;
    const transfers: TransferInput[] = [];
    if (!net.isZero()) {
      transfers.push({
        id: `${order.id}:release:${tag}`,
        debitAccountId: acct.escrow(order.id),
        creditAccountId: acct.seller(order.sellerId, c),
        amount: net.minor,
        currency: c,
        code: ESCROW_CODES.releaseToSeller,
        reference: order.id,
        flags: { linked: !fee.isZero() },
      });
    }
    if (!fee.isZero()) {
      transfers.push({
        id: `${order.id}:commission:${tag}`,
        debitAccountId: acct.escrow(order.id),
        creditAccountId: acct.commission(c),
        amount: fee.minor,
        currency: c,
        code: ESCROW_CODES.commission,
        reference: order.id,
      });
    }
    await this.#move(trx, transfers);
    return fee;
  }

  async #move(
    trx: MarketkitTransaction,
    transfers: readonly TransferInput[],
  ): Promise<ReadonlyMap<string, Readonly<AccountState>>> {
    const { results, accounts } = await this.#ledger.createTransfersWithBalancesIn(trx, transfers);
    const failed = results.find((r) => r.result !== 'ok' && r.result !== 'exists');
    if (failed !== undefined) {
      const message = `Escrow transfer ${failed.id} failed: ${failed.result}`;
      const transfer = transfers.find((t) => t.id === failed.id);
      const overflow = failed.result === 'overflowsDebits' || failed.result === 'overflowsCredits';
      if (overflow && transfer?.amount !== undefined && transfer.currency !== undefined) {
        // An account's totals would leave int64 (amounts near 2^63): refused like any amount past int64.
        const account = failed.result === 'overflowsDebits' ? transfer.debitAccountId : transfer.creditAccountId;
        const why = `Escrow transfer ${failed.id} would take the totals of account ${account} past 2^63 - 1 minor units.`;
        throw amountNotRepresentable(BigInt(transfer.amount), transfer.currency, why);
      }
      if (failed.result !== 'exceedsCredits' || transfer?.debitAccountId === undefined || transfer.amount === undefined)
        throw new MarketkitError('INTERNAL', { message });
      throw new MarketkitError('INSUFFICIENT_FUNDS', {
        message,
        details: { accountId: transfer.debitAccountId, amountMinor: String(transfer.amount) },
      });
    }
    return accounts;
  }
}
