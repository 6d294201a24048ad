import { createHash } from 'node:crypto';
import { ValidationError } from '../errors/validation-error.js';
import { IDEMPOTENCY_LIMITS } from './idempotency-limits.js';

type Path = readonly (string | number)[];

/**
 * The canonical JSON of a request: what `JSON.stringify` writes (objects through `toJSON` first, `undefined`
 * properties left out, non-finite numbers as `null`), except that object keys are sorted and a `bigint` is written
 * as its decimal string. Two requests get the same text exactly when they mean the same thing to JSON, whatever
 * their key order. Throws `VALIDATION_FAILED` on what JSON cannot say faithfully: functions, symbols, `Map`, `Set`,
 * cycles, nesting deeper than {@link IDEMPOTENCY_LIMITS.maxDepth}.
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1n, a: [true, undefined] }); // '{"a":[true,null],"b":"1"}'
 * ```
 */
export function canonicalJson(request: unknown): string {
  return write(request, ['request'], new Set()) ?? 'null';
}

/**
 * SHA-256 (hex) of {@link canonicalJson}: what an idempotency key stores to tell the same request from another.
 * Throws `VALIDATION_FAILED` when the canonical JSON is longer than {@link IDEMPOTENCY_LIMITS.maxRequestBytes}.
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
  return createHash('sha256').update(json, 'utf8').digest('hex');
}

/** Writes `value`, or returns `undefined` for what JSON leaves out (an `undefined` property). */
function write(value: unknown, path: Path, stack: Set<object>): string | undefined {
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
      throw invalid(path, `a ${typeof value} cannot be part of a request`);
  }
  if (value === null) return 'null';
  return writeObject(value as object, path, stack);
}

function writeObject(value: object, path: Path, stack: Set<object>): string {
  if (path.length > IDEMPOTENCY_LIMITS.maxDepth) {
    throw invalid(path, `nests deeper than ${IDEMPOTENCY_LIMITS.maxDepth} levels`);
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    const key = path.length === 1 ? '' : String(path.at(-1));
    return write(toJSON.call(value, key), path, stack) ?? 'null';
  }
  if (value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet) {
    throw invalid(path, 'a Map or Set cannot be part of a request; use an object or an array');
  }
  if (stack.has(value)) throw invalid(path, 'the request contains a cycle');
  stack.add(value);
  try {
    if (Array.isArray(value)) {
      const items: string[] = [];
      for (let i = 0; i < value.length; i++) items.push(write(value[i], [...path, i], stack) ?? 'null');
      return `[${items.join(',')}]`;
    }
    const members: string[] = [];
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record).sort()) {
      const text = write(record[key], [...path, key], stack);
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
