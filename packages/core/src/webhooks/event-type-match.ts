/**
 * True when `type` is selected by `patterns`: `'*'` selects every type, `'order.*'` every type starting with
 * `order.`, anything else exactly that type.
 *
 * @example
 * ```ts
 * eventTypeMatches(['order.*'], 'order.paid'); // true
 * ```
 */
export function eventTypeMatches(patterns: readonly string[], type: string): boolean {
  for (const p of patterns) {
    if (p === '*' || p === type) return true;
    if (p.endsWith('.*') && type.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}
