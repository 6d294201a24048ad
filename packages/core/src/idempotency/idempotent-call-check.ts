import { isStorableText } from '../errors/storable-text.js';
import { IDEMPOTENCY_LIMITS as L } from './idempotency-limits.js';
import type { IdempotencyScope } from './idempotency-types.js';

const KEY = /^[\x20-\x7e]+$/;
const CALL_KEYS: ReadonlySet<string> = new Set(['key', 'actor', 'operation', 'request']);
const within = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= max && isStorableText(v);

/**
 * The scope of an idempotent call as `callSchema` would parse it, when the call is a plain object with its four
 * fields (only those; `request` may be `undefined` but must be there) and a key, actor and operation of the right type within their limits; `undefined` otherwise, and
 * then the caller runs the schema, which decides (and explains). The same checks as the schema for exactly those
 * calls, without its cost on every `begin`; a property test holds the two together.
 * @internal
 */
export function plainIdempotentCall(call: unknown): IdempotencyScope | undefined {
  if (typeof call !== 'object' || call === null) return;
  const proto = Object.getPrototypeOf(call) as unknown;
  if (proto !== Object.prototype && proto !== null) return;
  const record = call as Record<string, unknown>;
  const names = Object.keys(record);
  for (const name of names) if (!CALL_KEYS.has(name)) return;
  if (!names.includes('request')) return; // the schema wants the field, even if its value is `undefined`
  const { key, actor, operation } = record;
  if (!within(key, L.maxKeyLength) || !KEY.test(key)) return;
  if (!within(actor, L.maxActorLength) || !within(operation, L.maxOperationLength)) return;
  return { key, actor, operation };
}

/**
 * True for `begin` options without `lockMs` (say `{ codec }`), which `beginOptionsSchema` accepts as they are: a
 * plain object, whatever its other fields. Anything else goes through the schema.
 * @internal
 */
export function withoutLockMs(options: unknown): boolean {
  if (typeof options !== 'object' || options === null) return false;
  const proto = Object.getPrototypeOf(options) as unknown;
  return (proto === Object.prototype || proto === null) && (options as { lockMs?: unknown }).lockMs === undefined;
}
