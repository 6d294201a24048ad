import { isStorableText } from '../errors/storable-text.js';
import { isCurrencyCode } from '../money/currency.js';
import { LEDGER_LIMITS as L, MAX_INT64 } from './ledger-limits.js';
import type { ParsedTransfer } from './ledger-schemas.js';
import type { TransferInput } from './transfer-types.js';

const ID = /^[\x21-\x7e]+$/;
const KEYS: ReadonlySet<string> = new Set([
  'id',
  'debitAccountId',
  'creditAccountId',
  'amount',
  'currency',
  'code',
  'reference',
  'userData',
]);

const isId = (v: unknown): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= L.maxIdLength && ID.test(v);

/**
 * The transfer as the ledger's schema would parse it, when it is a plain posted transfer (no flags, no pending
 * id, no timeout) whose every field is already of the parsed type and within its limit; `undefined` otherwise,
 * and then the caller runs the schema, which decides (and explains). The same checks as `transferInputSchema`
 * for exactly those fields, without its cost (~70 µs per transfer here): for transfers Marketkit's own modules
 * build on a hot path.
 * @internal
 */
export function plainPostedTransfer(t: TransferInput): ParsedTransfer | undefined {
  for (const key of Object.keys(t)) {
    if (!KEYS.has(key) || (t as unknown as Record<string, unknown>)[key] === undefined) return undefined;
  }
  const { id, debitAccountId, creditAccountId, amount, currency, code, reference, userData } = t;
  if (!isId(id) || !isId(debitAccountId) || !isId(creditAccountId)) return undefined;
  if (typeof amount !== 'bigint' || amount < 0n || amount > MAX_INT64) return undefined;
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency) || !isCurrencyCode(currency)) return undefined;
  if (code !== undefined && (!Number.isInteger(code) || code < 0 || code > L.maxCode)) return undefined;
  if (
    reference !== undefined &&
    (typeof reference !== 'string' || reference.length > L.maxReferenceLength || !isStorableText(reference))
  )
    return undefined;
  if (
    userData !== undefined &&
    (typeof userData !== 'string' || userData.length > L.maxUserDataLength || !isStorableText(userData))
  )
    return undefined;
  return { ...t } as ParsedTransfer;
}
