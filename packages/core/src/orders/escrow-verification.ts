import { sql } from 'kysely';
import { toBigInt } from '../storage/int64.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { ESCROW_CODES } from './escrow-accounts.js';

/** The result of `orders.verifyEscrow()`: `ok` when no problem was found. */
export interface EscrowVerification {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly ordersChecked: number;
}

/**
 * Checks, for every order, that what entered its escrow equals what left plus what remains, and for every order in
 * a terminal state that its escrow is empty — every captured minor unit went to exactly one of seller, platform
 * commission and buyer refund.
 */
export async function verifyEscrow(
  trx: MarketkitTransaction,
  terminalStates: readonly string[],
): Promise<EscrowVerification> {
  const orders = await trx
    .selectFrom('orders')
    .select(['id', 'state', 'amount_minor', 'capture_id', 'refunded_minor'])
    .orderBy('id')
    .execute();
  const sums = await trx
    .selectFrom('transfers')
    .select(['reference', 'code', sql<string>`sum(amount)`.as('total')])
    .where(
      'code',
      'in',
      [ESCROW_CODES.capture, ESCROW_CODES.releaseToSeller, ESCROW_CODES.commission, ESCROW_CODES.refund].map(BigInt),
    )
    .groupBy(['reference', 'code'])
    .execute();
  const by = new Map(sums.map((s) => [`${s.reference}/${Number(s.code)}`, toBigInt(s.total)]));
  const problems: string[] = [];
  for (const o of orders) {
    const get = (code: number) => by.get(`${o.id}/${code}`) ?? 0n;
    const captured = get(ESCROW_CODES.capture);
    const out = get(ESCROW_CODES.releaseToSeller) + get(ESCROW_CODES.commission) + get(ESCROW_CODES.refund);
    const balance = captured - out;
    if (balance < 0n) problems.push(`order ${o.id}: more left escrow (${out}) than entered (${captured})`);
    if (terminalStates.includes(o.state) && balance !== 0n)
      problems.push(`order ${o.id}: terminal state ${o.state} with ${balance} left in escrow`);
    if (captured !== 0n && captured !== toBigInt(o.amount_minor))
      problems.push(`order ${o.id}: captured ${captured} != order amount ${o.amount_minor}`);
    if (get(ESCROW_CODES.refund) !== toBigInt(o.refunded_minor))
      problems.push(`order ${o.id}: refunds ${get(ESCROW_CODES.refund)} != recorded ${o.refunded_minor}`);
  }
  return { ok: problems.length === 0, problems, ordersChecked: orders.length };
}
