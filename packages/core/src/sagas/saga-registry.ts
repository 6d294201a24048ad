import { ValidationError } from '../errors/validation-error.js';
import type { SagaDefinition } from './saga-definition.js';

/**
 * The sagas a process knows how to run, by name. Every process that runs a worker registers the same ones; a
 * saga whose definition a worker lacks is left for another worker.
 *
 * @example
 * ```ts
 * const registry = new SagaRegistry([checkoutSaga, payoutSaga]);
 * ```
 */
export class SagaRegistry {
  readonly #byName = new Map<string, SagaDefinition>();

  constructor(definitions: readonly SagaDefinition[] = []) {
    for (const d of definitions) this.register(d);
  }

  /** Adds a definition; throws `VALIDATION_FAILED` if another one already has its name. */
  register(definition: SagaDefinition): this {
    if (this.#byName.has(definition.name)) {
      const message = `Saga ${definition.name} is already registered.`;
      throw new ValidationError([{ path: ['name'], message }], message);
    }
    this.#byName.set(definition.name, definition);
    return this;
  }

  /** The definition named `name`, or `undefined`. */
  get(name: string): SagaDefinition | undefined {
    return this.#byName.get(name);
  }

  /** The registered names. */
  names(): string[] {
    return [...this.#byName.keys()];
  }
}
