import { param, type StripeParams } from './stripe-form.js';
import { invalidRequest, type StripeAnswer } from './stripe-objects.js';

type Searchable = { id: string; created: number; metadata: Record<string, string> };

const CLAUSE = /^\s*(metadata\['((?:[^'\\]|\\.)*)'\]|[a-z_]+):'((?:[^'\\]|\\.)*)'\s*$/;
const unquote = (s: string) => s.replace(/\\(.)/g, '$1');

/**
 * Answers a Stripe search (`GET /v1/<objects>/search`) over `all`, for the subset of Stripe's search query language
 * the server knows (internal to the test server): exact-match clauses `field:'value'` and `metadata['key']:'value'`, joined by `OR` or by `AND`
 * (not both, as in Stripe), at most 10. Results are newest first; `page` is the `next_page` of the previous answer.
 */
export function searchAnswer<T extends Searchable>(url: string, all: Iterable<T>, q: StripeParams): StripeAnswer {
  const query = param(q, 'query');
  if (query === undefined || query.trim() === '') return invalidRequest('Missing required param: query.', 'query');
  const ors = query.split(/\s+OR\s+/);
  const ands = query.split(/\s+AND\s+/);
  if (ors.length > 1 && ands.length > 1) return invalidRequest('Cannot mix AND and OR in a search query.', 'query');
  const parts = ors.length > 1 ? ors : ands;
  if (parts.length > 10) return invalidRequest('A search query takes at most 10 clauses.', 'query');
  const clauses: ((o: T) => boolean)[] = [];
  for (const part of parts) {
    const m = CLAUSE.exec(part);
    if (m === null) return invalidRequest(`Unsupported search clause: ${part}`, 'query');
    const [, field, metaKey, raw] = m as unknown as [string, string, string | undefined, string];
    const value = unquote(raw);
    clauses.push(
      metaKey === undefined
        ? (o) => String((o as unknown as Record<string, unknown>)[field]) === value
        : (o) => o.metadata[unquote(metaKey)] === value,
    );
  }
  const match = (o: T) => (ors.length > 1 ? clauses.some((c) => c(o)) : clauses.every((c) => c(o)));
  const limit = Number(param(q, 'limit') ?? 10);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return invalidRequest('Invalid limit', 'limit');
  const start = Number(param(q, 'page') ?? 0);
  const rows = [...all].filter(match).reverse();
  const data = rows.slice(start, start + limit);
  const more = start + limit < rows.length;
  return {
    status: 200,
    body: {
      object: 'search_result',
      data: structuredClone(data),
      has_more: more,
      next_page: more ? String(start + limit) : null,
      url,
    },
  };
}
