import { z } from 'zod';

/**
 * Why a string was refused: it would not come back from the database as it went in. PostgreSQL stores a lone
 * UTF-16 surrogate half as U+FFFD (so `'a\uD800'` and `'a\uDC00'` become the same id) and refuses NUL; SQLite
 * keeps NUL but the drivers read lone surrogates back changed.
 */
export const UNSTORABLE_TEXT_MESSAGE = 'must be well-formed Unicode text: no lone surrogate halves, no NUL (\\u0000)';

/** `String.prototype.isWellFormed` (Node 20+), typed here because the ES2023 lib does not declare it. */
interface WellFormedCheck {
  isWellFormed(): boolean;
}

/**
 * True when `text` is well-formed UTF-16 (every surrogate half paired) and holds no NUL: text that SQLite and
 * PostgreSQL both store and give back unchanged.
 *
 * @example
 * ```ts
 * isStorableText('café 😀'); // true
 * isStorableText('a\uD800'); // false: a lone surrogate half
 * isStorableText('a\u0000b'); // false: NUL
 * ```
 */
export function isStorableText(text: string): boolean {
  return (text as unknown as WellFormedCheck).isWellFormed() && !text.includes('\0');
}

/**
 * A zod string that only accepts {@link isStorableText} text, with `VALIDATION_FAILED` and
 * {@link UNSTORABLE_TEXT_MESSAGE} otherwise. Every public schema that takes text builds on it; chain `.min()`,
 * `.max()`, `.regex()` as on `z.string()`.
 * @internal
 */
export function storableText(): z.ZodString {
  return z.string().refine(isStorableText, { error: UNSTORABLE_TEXT_MESSAGE });
}

/**
 * An escape `JSON.stringify` writes only for a NUL or a lone surrogate half (it writes a paired surrogate as the
 * character itself), not preceded by an odd run of backslashes (which would make it literal text).
 */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/;

/**
 * True when JSON text written by `JSON.stringify` holds a string (a value or a key, at any depth) that is not
 * {@link isStorableText}: one look at the text about to be stored, instead of a walk through the value.
 * @internal
 */
export function jsonHasUnstorableText(json: string): boolean {
  return json.includes('\\u') && UNSTORABLE_ESCAPE.test(json);
}
