/**
 * Names of statement parameters made of a prefix, a row number and a column (`l0_id`, `p_l2_detail`, …), built once
 * and then reused. A name assembled anew on every call is a fresh string that V8 must hash and look up before it can
 * store or read a property by it; on the hot paths that fill a template's values (a checkout fills about a hundred)
 * that cost more than binding the values did.
 * @internal
 */
export class ParamNames<C extends string> {
  readonly #columns: readonly C[];
  readonly #name: (prefix: string, row: number, column: C) => string;
  readonly #byPrefix = new Map<string, Readonly<Record<C, string>>[]>();

  /** `name` spells one parameter; it must be a pure function of its arguments. */
  constructor(columns: readonly C[], name: (prefix: string, row: number, column: C) => string) {
    this.#columns = columns;
    this.#name = name;
  }

  /** The names of row `row`'s columns under `prefix`, the same strings on every call. */
  of(prefix: string, row = 0): Readonly<Record<C, string>> {
    let rows = this.#byPrefix.get(prefix);
    if (rows === undefined) {
      rows = [];
      this.#byPrefix.set(prefix, rows);
    }
    let names = rows[row];
    if (names === undefined) {
      const built = {} as Record<C, string>;
      for (const column of this.#columns) built[column] = this.#name(prefix, row, column);
      names = Object.freeze(built);
      rows[row] = names;
    }
    return names;
  }
}
