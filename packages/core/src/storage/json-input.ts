import { jsonHasUnstorableText, UNSTORABLE_TEXT_MESSAGE } from '../errors/storable-text.js';
import { ValidationError } from '../errors/validation-error.js';

/**
 * The limits of a JSON value a host hands Marketkit to store: an event payload, a saga input, a job payload. Past
 * one, the call is refused with `VALIDATION_FAILED` and nothing is written.
 *
 * @example
 * ```ts
 * if (JSON.stringify(payload).length > JSON_INPUT_LIMITS.maxLength) storeItElsewhereAndPassItsId();
 * ```
 */
export const JSON_INPUT_LIMITS = Object.freeze({
  /** Longest JSON text of one value, in characters (bigints counted as their quoted decimal text). */
  maxLength: 256 * 1024,
  /** Deepest nesting of arrays and objects (the value itself is depth 0). */
  maxDepth: 64,
});

type Path = readonly (string | number)[];

/** Where the walk is, as a chain to the root: built into a {@link Path} only when something is refused. */
interface Place {
  readonly parent: Place | Path;
  readonly key: string | number;
}

function pathOf(place: Place | Path): Path {
  if (Array.isArray(place)) return place;
  const { parent, key } = place as Place;
  return [...pathOf(parent), key];
}

/** Why a value is not stored as given, with the path to it; thrown inside the walk, turned into `VALIDATION_FAILED`. */
class NotJson extends Error {
  readonly path: Path;
  constructor(place: Place | Path, message: string) {
    super(message);
    this.path = pathOf(place);
  }
}

/**
 * Serializes `value` to the JSON text Marketkit stores, refusing with `VALIDATION_FAILED` (issues under `path`) what
 * JSON would change or cannot carry, instead of storing something else or throwing a `TypeError`: `NaN` and
 * infinities (JSON writes `null`), functions and symbols (dropped), `undefined` in an array (`null`), a `Map`, `Set`,
 * `Error`, `RegExp` or typed array (written as `{}` or an index object), cycles, nesting deeper than
 * {@link JSON_INPUT_LIMITS}`.maxDepth`, a `toJSON` that throws, text longer than `maxLength`, and a string (or key)
 * that is not storable text (a lone surrogate or NUL, see `isStorableText`). A bigint is
 * written as its decimal text (read it back with `z.coerce.bigint()`); an object property that is `undefined` is
 * left out, as JSON does; anything with a `toJSON` (a `Date`, a `Money`) is stored as what `toJSON` returns.
 *
 * `stringify` writes the checked value (default: `JSON.stringify` with bigints as text); the one place every
 * host-given JSON value passes.
 * @internal
 */
export function jsonInputText(
  value: unknown,
  path: Path,
  stringify: (value: unknown) => string = stringifyWithBigInts,
): string {
  let text: string;
  try {
    checkValue(value, path, 0, new Set(), true);
    text = stringify(value);
  } catch (error) {
    if (error instanceof NotJson) throw invalid(error.path, error.message);
    // A getter or `toJSON` that throws, or one that changed its answer between the check and the write.
    throw invalid(path, `is not JSON-serializable: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (text.length > JSON_INPUT_LIMITS.maxLength) {
    throw invalid(path, `exceeds ${JSON_INPUT_LIMITS.maxLength} characters of JSON (${text.length})`);
  }
  // A lone surrogate or NUL in any string, keys included (PostgreSQL would store U+FFFD, or refuse it).
  if (jsonHasUnstorableText(text)) throw invalid(path, `has a string that ${UNSTORABLE_TEXT_MESSAGE}`);
  return text;
}

const withBigInts = (_key: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

function stringifyWithBigInts(value: unknown): string {
  try {
    // V8's fast serializer first (a replacer makes every call several times slower); it throws only on a bigint.
    return JSON.stringify(value ?? null);
  } catch {
    return JSON.stringify(value ?? null, withBigInts);
  }
}

function invalid(path: Path, message: string): ValidationError {
  const where = path.join('.') || '(root)';
  return new ValidationError([{ path, message }], `Invalid ${where}: ${message}`);
}

/** Throws {@link NotJson} for the first part of `value` JSON would not carry as it is; `root` may be `undefined`. */
function checkValue(
  value: unknown,
  path: Place | Path,
  depth: number,
  ancestors: Set<object>,
  root = false,
  converted = false,
): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new NotJson(path, `is ${value}, which JSON cannot carry (it would be null)`);
      return;
    case 'undefined':
      if (root) return; // stored as null: an absent payload
      throw new NotJson(path, 'is undefined in an array, which JSON would turn into null');
    case 'function':
    case 'symbol':
      throw new NotJson(path, `is a ${typeof value}, which JSON cannot carry (it would be dropped)`);
  }
  if (value === null) return;
  const object = value as object;
  const toJSON = converted ? undefined : (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    // As JSON.stringify does: `toJSON` once, then what it returned as it is (its own `toJSON` is not called).
    const key = Array.isArray(path) ? (path as Path).at(-1) : (path as Place).key;
    checkValue(toJSON.call(object, String(key ?? '')), path, depth, ancestors, root, true);
    return;
  }
  if (depth >= JSON_INPUT_LIMITS.maxDepth) {
    throw new NotJson(path, `nests deeper than ${JSON_INPUT_LIMITS.maxDepth} levels`);
  }
  if (ancestors.has(object)) throw new NotJson(path, 'refers back to itself (a cycle), which JSON cannot carry');
  ancestors.add(object);
  if (Array.isArray(object)) checkArray(object, path, depth, ancestors);
  else checkObject(object, path, depth, ancestors);
  ancestors.delete(object);
}

function checkArray(array: readonly unknown[], path: Place | Path, depth: number, ancestors: Set<object>): void {
  for (let i = 0; i < array.length; i++) {
    const place = { parent: path, key: i };
    if (!(i in array)) throw new NotJson(place, 'is a hole in an array, which JSON would turn into null');
    const item = array[i];
    if (item === undefined) throw new NotJson(place, 'is undefined in an array, which JSON would turn into null');
    checkValue(item, place, depth + 1, ancestors);
  }
}

function checkObject(object: object, path: Place | Path, depth: number, ancestors: Set<object>): void {
  const tag = Object.prototype.toString.call(object);
  if (tag !== '[object Object]') {
    throw new NotJson(path, `is a ${tag.slice(8, -1)}, which JSON would not keep; convert it to plain data first`);
  }
  if (Object.getOwnPropertySymbols(object).some((s) => Object.prototype.propertyIsEnumerable.call(object, s))) {
    throw new NotJson(path, 'has symbol keys, which JSON would drop');
  }
  const record = object as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const item = record[key];
    // Strings and the like inline: most payloads are flat, and a call per field costs more than this test.
    if (item === undefined || typeof item === 'string' || typeof item === 'boolean' || typeof item === 'bigint') {
      continue;
    }
    checkValue(item, { parent: path, key }, depth + 1, ancestors);
  }
}
