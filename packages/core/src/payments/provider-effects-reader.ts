import { MarketkitError } from '../errors/marketkit-error.js';
import type { PaymentEffect, PaymentEffectsPage, PaymentEffectsQuery } from './payment-effects.js';
import type { PaymentProvider } from './payment-provider.js';

/** Keys asked of the provider per lookup. */
const KEYS_PER_LOOKUP = 100;

/**
 * Reads a provider's effects page by page (`pageSize` each) and counts the pages. Refuses a provider that breaks
 * the listing contract (a page larger than asked, a cursor that repeats) with `PROVIDER_ERROR`.
 * @internal
 */
export class ProviderEffectsReader {
  readonly #list: NonNullable<PaymentProvider['listEffects']>;
  readonly #provider: PaymentProvider;
  readonly #pageSize: number;
  pages = 0;

  constructor(provider: PaymentProvider, pageSize: number) {
    const list = provider.listEffects;
    if (list === undefined) {
      throw new MarketkitError('PROVIDER_CAPABILITY_MISSING', {
        message: `Payment provider ${provider.name} cannot list its effects (listEffects), so payments cannot be reconciled.`,
        details: { method: 'listEffects' },
      });
    }
    this.#provider = provider;
    this.#list = list;
    this.#pageSize = pageSize;
  }

  /** Every effect made in `[from, to)`. */
  inWindow(from: number, to: number): Promise<PaymentEffect[]> {
    return this.#all({ from, to });
  }

  /** Every effect made with one of `keys`, whenever. */
  async byKeys(keys: readonly string[]): Promise<PaymentEffect[]> {
    const out: PaymentEffect[] = [];
    for (let i = 0; i < keys.length; i += KEYS_PER_LOOKUP) {
      out.push(...(await this.#all({ keys: keys.slice(i, i + KEYS_PER_LOOKUP) })));
    }
    return out;
  }

  async #all(query: Omit<PaymentEffectsQuery, 'limit' | 'cursor'>): Promise<PaymentEffect[]> {
    const out: PaymentEffect[] = [];
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page: PaymentEffectsPage = await this.#list.call(this.#provider, {
        ...query,
        limit: this.#pageSize,
        ...(cursor === null ? {} : { cursor }),
      });
      this.pages++;
      if (page.effects.length > this.#pageSize || (page.nextCursor !== null && seen.has(page.nextCursor))) {
        throw new MarketkitError('PROVIDER_ERROR', {
          message: `Payment provider ${this.#provider.name} broke the listEffects contract (page size or cursor).`,
          details: { operation: 'listEffects' },
        });
      }
      out.push(...page.effects);
      cursor = page.nextCursor;
      if (cursor !== null) seen.add(cursor);
    } while (cursor !== null);
    return out;
  }
}
