/** A form-encoded Stripe request body, decoded: `metadata[k]=v` nests, `expand[]=a` or `expand[0]=a` lists. */
export type StripeParams = { [key: string]: string | string[] | StripeParams };

/**
 * Decodes a Stripe-style `application/x-www-form-urlencoded` body (or query string) into nested params:
 * `metadata[order]=o1&amount=100` → `{ metadata: { order: 'o1' }, amount: '100' }`. Values stay strings.
 */
export function parseStripeForm(body: string): StripeParams {
  const out: StripeParams = {};
  for (const [name, value] of new URLSearchParams(body)) {
    const path = name.split('[').map((p, i) => (i === 0 ? p : p.replace(/]$/, '')));
    let node: StripeParams = out;
    for (let i = 0; i < path.length - 1; i++) {
      const part = path[i] as string;
      const next = node[part];
      if (path[i + 1] === '' || /^\d+$/.test(path[i + 1] as string)) {
        const list = Array.isArray(next) ? next : [];
        list.push(value);
        node[part] = list;
        node = {};
        break;
      }
      if (typeof next !== 'object' || Array.isArray(next)) node[part] = {};
      node = node[part] as StripeParams;
    }
    const leaf = path.at(-1) as string;
    if (path.length === 1 || (leaf !== '' && !/^\d+$/.test(leaf))) node[leaf] = value;
  }
  return out;
}

/** One string param, or `undefined`. */
export function param(params: StripeParams, name: string): string | undefined {
  const v = params[name];
  return typeof v === 'string' ? v : undefined;
}

/** The string entries of a nested param (`metadata`). */
export function paramMap(params: StripeParams, name: string): Record<string, string> {
  const v = params[name];
  if (typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
