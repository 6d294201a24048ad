import {
  IdentifierNode,
  type KyselyPlugin,
  OperationNodeTransformer,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type SchemableIdentifierNode,
  type UnknownRow,
} from 'kysely';

class PrefixTransformer extends OperationNodeTransformer {
  readonly #prefix: string;
  readonly #tables: ReadonlySet<string>;
  readonly #schema: IdentifierNode | undefined;
  constructor(prefix: string, tables: ReadonlySet<string>, schema: string | undefined) {
    super();
    this.#prefix = prefix;
    this.#tables = tables;
    this.#schema = schema === undefined ? undefined : IdentifierNode.create(schema);
  }
  protected override transformSchemableIdentifier(node: SchemableIdentifierNode): SchemableIdentifierNode {
    const transformed = super.transformSchemableIdentifier(node);
    const name = transformed.identifier.name;
    if (!this.#tables.has(name)) return transformed;
    const identifier = IdentifierNode.create(this.#prefix + name);
    // Kysely's WithSchemaPlugin qualifies the tables of query builders, not those written with `sql.table()` or
    // `sql.ref()` inside raw SQL (one-statement writes): qualify whatever it left unqualified.
    if (this.#schema !== undefined && transformed.schema === undefined) {
      return { ...transformed, schema: this.#schema, identifier };
    }
    return { ...transformed, identifier };
  }
}

/**
 * Renames Marketkit's logical table names (`accounts`, `transfers`, …) to prefixed physical ones
 * (`mk_accounts`, …) in every query, so the SDK's tables sit beside the host's. Only the names in
 * `tables` are touched: aliases and the host's own tables pass through. With `schema`, those tables are also
 * qualified with it wherever a query left them unqualified (raw SQL).
 */
export class TablePrefixPlugin implements KyselyPlugin {
  readonly #transformer: PrefixTransformer;
  constructor(prefix: string, tables: Iterable<string>, schema?: string) {
    this.#transformer = new PrefixTransformer(prefix, new Set(tables), schema);
  }
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.#transformer.transformNode(args.node);
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}
