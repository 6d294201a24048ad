import { hash } from 'node:crypto';
import { ValidationError } from '../errors/validation-error.js';
import { IDEMPOTENCY_LIMITS } from './idempotency-limits.js';

type Path = readonly (string | number)[];

/** Where a value sits, as a chain to its root: the path array is only built for an error message. */
interface At {
  readonly parent: At | undefined;
  readonly key: string | number;
  readonly depth: number;
}

const child = (parent: At, key: string | number): At => ({ parent, key, depth: parent.depth + 1 });
function pathOf(at: At): Path {
  const out: (string | number)[] = [];
  for (let a: At | undefined = at; a !== undefined; a = a.parent) out.push(a.key);
  return out.reverse();
}

/**
 * The canonical JSON of a request: what `JSON.stringify` writes (objects through `toJSON` first, `undefined`
 * properties left out, non-finite numbers as `null`), except that object keys are sorted and a `bigint` is written
 * as its decimal string. Two requests get the same text exactly when they mean the same thing to JSON, whatever
 * their key order. Throws `VALIDATION_FAILED` on what JSON cannot say faithfully: functions, symbols, `Map`, `Set`,
 * cycles, nesting deeper than `IDEMPOTENCY_LIMITS.maxDepth`.
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1n, a: [true, undefined] }); // '{"a":[true,null],"b":"1"}'
 * ```
 */
export function canonicalJson(request: unknown): string {
  return flatJson(request) ?? write(request, { parent: undefined, key: 'request', depth: 1 }, new Set()) ?? 'null';
}

/**
 * The canonical JSON of the common request, a plain object of strings, finite numbers, booleans, `null` and
 * `undefined`, written by V8's serializer with the sorted keys as its property list (which fixes their order);
 * `undefined` for anything else, which {@link write} handles. Equal to `write`'s text (a property test holds it).
 */
function flatJson(request: unknown): string | undefined {
  if (typeof request !== 'object' || request === null || Object.getPrototypeOf(request) !== Object.prototype) {
    return undefined;
  }
  const record = request as Record<string, unknown>;
  const keys = Object.keys(record);
  for (const key of keys) {
    const value = record[key];
    const type = typeof value;
    if (type === 'string' || type === 'boolean' || value === null || value === undefined) continue;
    if (type === 'number' && Number.isFinite(value)) continue;
    return undefined;
  }
  return JSON.stringify(record, keys.sort());
}

/**
 * SHA-256 (hex) of {@link canonicalJson}: what an idempotency key stores to tell the same request from another.
 * Throws `VALIDATION_FAILED` when the canonical JSON is longer than `IDEMPOTENCY_LIMITS.maxRequestBytes`.
 *
 * @example
 * ```ts
 * requestFingerprint({ amount: 500n, currency: 'USD' }) === requestFingerprint({ currency: 'USD', amount: 500n }); // true
 * ```
 */
export function requestFingerprint(request: unknown): string {
  const json = canonicalJson(request);
  if (Buffer.byteLength(json, 'utf8') > IDEMPOTENCY_LIMITS.maxRequestBytes) {
    throw invalid(['request'], `must be at most ${IDEMPOTENCY_LIMITS.maxRequestBytes} bytes as JSON`);
  }
  // One-shot `hash` (Node 20.12+): a third of `createHash(…).update(…).digest()`'s cost here, on every keyed call.
  return hash('sha256', json, 'hex');
}

/** Writes `value`, or returns `undefined` for what JSON leaves out (an `undefined` property). */
function write(value: unknown, at: At, stack: Set<object>): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `"${value.toString()}"`;
    case 'undefined':
      return undefined;
    case 'function':
    case 'symbol':
      throw invalid(pathOf(at), `a ${typeof value} cannot be part of a request`);
  }
  if (value === null) return 'null';
  return writeObject(value as object, at, stack);
}

function writeObject(value: object, at: At, stack: Set<object>): string {
  if (at.depth > IDEMPOTENCY_LIMITS.maxDepth) {
    throw invalid(pathOf(at), `nests deeper than ${IDEMPOTENCY_LIMITS.maxDepth} levels`);
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    const key = at.parent === undefined ? '' : String(at.key);
    return write(toJSON.call(value, key), at, stack) ?? 'null';
  }
  if (value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet) {
    throw invalid(pathOf(at), 'a Map or Set cannot be part of a request; use an object or an array');
  }
  if (stack.has(value)) throw invalid(pathOf(at), 'the request contains a cycle');
  stack.add(value);
  try {
    if (Array.isArray(value)) {
      const items: string[] = [];
      for (let i = 0; i < value.length; i++) items.push(write(value[i], child(at, i), stack) ?? 'null');
      return `[${items.join(',')}]`;
    }
    const members: string[] = [];
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record).sort()) {
      const text = write(record[key], child(at, key), stack);
      if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    stack.delete(value);
  }
}

function invalid(path: Path, message: string): ValidationError {
  return new ValidationError([{ path, message }], `Invalid ${path.join('.')}: ${message}`);
}
