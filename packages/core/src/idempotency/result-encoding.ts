import type { AnyMarketkitError, MarketkitError } from '../errors/marketkit-error.js';
import { restoreMarketkitError } from '../errors/restore-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { IDEMPOTENCY_LIMITS } from './idempotency-limits.js';

type Path = readonly (string | number)[];

/** Where a value sits, as a chain to its root: the path array is only built for an error message. */
interface At {
  readonly parent: At | undefined;
  readonly key: string | number;
  readonly depth: number;
}

const root = (key: string): At => ({ parent: undefined, key, depth: 1 });
const child = (parent: At, key: string | number): At => ({ parent, key, depth: parent.depth + 1 });
function pathOf(at: At): Path {
  const out: (string | number)[] = [];
  for (let a: At | undefined = at; a !== undefined; a = a.parent) out.push(a.key);
  return out.reverse();
}

/*
 * The tagged JSON that stores results. Plain JSON, plus what JSON would lose, each as an object with exactly one
 * `$`-key: `{"$bigint":"12"}`, `{"$number":"-0"|"NaN"|"Infinity"|"-Infinity"}`, `{"$undefined":true}`. A stored
 * object that itself has exactly one key starting with `$` is wrapped as `{"$object":{…}}`, so no value of the
 * caller's is ever mistaken for a tag and every value round-trips exactly.
 */

/**
 * Encodes a result as tagged JSON text. Accepts `null`, booleans, numbers (also `-0`, `NaN`, `±Infinity`),
 * strings, bigints, `undefined`, arrays and plain objects; anything else (class instances such as `Date` or
 * `Money`, functions, symbols, cycles) throws `VALIDATION_FAILED`: map it to plain data, or pass a codec.
 *
 * @example
 * ```ts
 * decodeResult(encodeResult({ amount: 2n ** 70n })); // { amount: 1180591620717411303424n }
 * ```
 */
export function encodeResult(value: unknown, what = 'result'): string {
  const text = JSON.stringify(tag(value, root(what), new Set()));
  if (Buffer.byteLength(text, 'utf8') > IDEMPOTENCY_LIMITS.maxResultBytes) {
    throw invalid([what], `must be at most ${IDEMPOTENCY_LIMITS.maxResultBytes} bytes once encoded`);
  }
  return text;
}

/** Decodes what {@link encodeResult} wrote. */
export function decodeResult(text: string): unknown {
  return untag(JSON.parse(text) as unknown);
}

/** What a stored error keeps: enough to rethrow a `MarketkitError` with the same code, message and details. */
interface StoredError {
  readonly code: string;
  readonly message: string;
  readonly details: unknown;
}

/** Encodes a Marketkit error as tagged JSON text; details that are not plain data are stored as JSON sees them. */
export function encodeError(error: MarketkitError): string {
  return JSON.stringify({ code: error.code, message: error.message, details: tagDetails(error.details) });
}

function tagDetails(details: Readonly<Record<string, unknown>>): unknown {
  try {
    return tag(details, root('details'), new Set());
  } catch {
    try {
      return tag(JSON.parse(JSON.stringify(details, bigintAsText)) as unknown, root('details'), new Set());
    } catch {
      return {};
    }
  }
}

/**
 * Rebuilds the error {@link encodeError} stored, as a non-retryable `MarketkitError` with the same code, message and
 * details; `INTERNAL` when the stored code is unknown or its details do not have the code's shape.
 */
export function decodeError(text: string): AnyMarketkitError {
  const stored = JSON.parse(text) as StoredError;
  return restoreMarketkitError({ ...stored, details: untag(stored.details) }, { retryable: false });
}

function tag(value: unknown, at: At, stack: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Object.is(value, -0)) return { $number: '-0' };
      return Number.isFinite(value) ? value : { $number: String(value) };
    case 'bigint':
      return { $bigint: value.toString() };
    case 'undefined':
      return { $undefined: true };
    case 'function':
    case 'symbol':
      throw invalid(pathOf(at), `a ${typeof value} cannot be stored`);
  }
  if (value === null) return null;
  return tagObject(value as object, at, stack);
}

function tagObject(value: object, at: At, stack: Set<object>): unknown {
  if (at.depth > IDEMPOTENCY_LIMITS.maxDepth) {
    throw invalid(pathOf(at), `nests deeper than ${IDEMPOTENCY_LIMITS.maxDepth} levels`);
  }
  if (stack.has(value)) throw invalid(pathOf(at), 'contains a cycle');
  stack.add(value);
  try {
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      for (let i = 0; i < value.length; i++) out.push(tag(value[i], child(at, i), stack));
      return out;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      throw invalid(
        pathOf(at),
        `must be plain data, not ${typeof name === 'string' ? `a ${name}` : 'a class instance'}; map it or pass a codec`,
      );
    }
    const keys = Object.keys(value);
    const record = value as Record<string, unknown>;
    const entries: Record<string, unknown> = {};
    for (const k of keys) {
      const tagged = tag(record[k], child(at, k), stack);
      // `__proto__` as an own data property, as `Object.fromEntries` would define it, not the prototype setter.
      if (k === '__proto__')
        Object.defineProperty(entries, k, { value: tagged, enumerable: true, writable: true, configurable: true });
      else entries[k] = tagged;
    }
    return keys.length === 1 && keys[0]?.startsWith('$') ? { $object: entries } : entries;
  } finally {
    stack.delete(value);
  }
}

function untag(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untag);
  if (!isRecord(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    switch (keys[0]) {
      case '$bigint':
        return BigInt(value['$bigint'] as string);
      case '$number':
        return Number(value['$number'] as string);
      case '$undefined':
        return undefined;
      case '$object':
        return untagEntries(value['$object'] as Record<string, unknown>);
    }
  }
  return untagEntries(value);
}

function untagEntries(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(value).map((k) => [k, untag(value[k])]));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bigintAsText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function invalid(path: Path, message: string): ValidationError {
  return new ValidationError([{ path, message }], `Invalid ${path.join('.')}: ${message}`);
}
