import {
  AliasNode,
  BinaryOperationNode,
  ColumnNode,
  type DeleteQueryNode,
  IdentifierNode,
  type InsertQueryNode,
  type JoinNode,
  type KyselyPlugin,
  OnNode,
  type OperationNode,
  OperationNodeTransformer,
  OperatorNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  PrimitiveValueListNode,
  type QueryResult,
  type RawBuilder,
  RawNode,
  ReferenceNode,
  type RootOperationNode,
  SelectionNode,
  SelectQueryNode,
  sql,
  TableNode,
  type UnknownRow,
  type UpdateQueryNode,
  ValueListNode,
  ValueNode,
  ValuesNode,
  WhereNode,
} from 'kysely';

/** The column every Marketkit table carries first in its primary key and unique indexes: the marketplace's tenant. */
export const TENANT_COLUMN = 'tenant';

/** What {@link TENANT} stands for until the tenant plugin puts the tenant in its place. Never a valid tenant. */
const TENANT_PLACEHOLDER = '\u0000mk-tenant';

/**
 * The tenant, as a value in raw SQL (`where a.tenant = ${TENANT}`): the tenant plugin of the instance that sends the
 * statement binds its tenant there (in a statement template, the template's tenant parameter). Query builder
 * statements need nothing: the plugin scopes them itself.
 */
export const TENANT: RawBuilder<string> = sql.val(TENANT_PLACEHOLDER);

/**
 * Thrown when a query builder statement has a shape the tenant plugin cannot scope (an insert without a column
 * list, say): a statement that could reach another tenant's rows is never sent.
 */
export class UnscopedStatementError extends Error {
  override readonly name = 'UnscopedStatementError';
}

class TenantTransformer extends OperationNodeTransformer {
  readonly #tables: ReadonlySet<string>;
  readonly #tenant: unknown;
  constructor(tables: ReadonlySet<string>, tenant: unknown) {
    super();
    this.#tables = tables;
    this.#tenant = tenant;
  }

  protected override transformValue(node: ValueNode): ValueNode {
    return node.value === TENANT_PLACEHOLDER ? ValueNode.create(this.#tenant) : super.transformValue(node);
  }

  /** `<ref>.tenant = $tenant` for a FROM/JOIN item over one of Marketkit's tables, or undefined for anything else. */
  #condition(item: OperationNode): OperationNode | undefined {
    let table: TableNode | undefined;
    let ref: string | undefined;
    if (TableNode.is(item)) {
      table = item;
      ref = item.table.identifier.name;
    } else if (AliasNode.is(item) && TableNode.is(item.node) && IdentifierNode.is(item.alias)) {
      table = item.node;
      ref = item.alias.name;
    }
    if (table === undefined || ref === undefined || !this.#tables.has(table.table.identifier.name)) return undefined;
    const qualifier = TableNode.is(item) ? item : TableNode.create(ref);
    return BinaryOperationNode.create(
      ReferenceNode.create(ColumnNode.create(TENANT_COLUMN), qualifier),
      OperatorNode.create('='),
      ValueNode.create(this.#tenant),
    );
  }

  /** `node` with a tenant condition for each of `items` over Marketkit's tables, and in the ON of each such join. */
  #scope<T extends { readonly where?: WhereNode; readonly joins?: readonly JoinNode[] }>(
    node: T,
    items: readonly OperationNode[],
  ): T {
    let where = node.where;
    for (const item of items) {
      const condition = this.#condition(item);
      if (condition === undefined) continue;
      where = where === undefined ? WhereNode.create(condition) : WhereNode.cloneWithOperation(where, 'And', condition);
    }
    let out = where === node.where || where === undefined ? node : { ...node, where };
    if (node.joins !== undefined) {
      const joins = node.joins.map((join) => {
        const condition = this.#condition(join.table);
        if (condition === undefined) return join;
        const on =
          join.on === undefined ? OnNode.create(condition) : OnNode.cloneWithOperation(join.on, 'And', condition);
        return { ...join, on };
      });
      out = { ...out, joins };
    }
    return out;
  }

  protected override transformSelectQuery(node: SelectQueryNode): SelectQueryNode {
    const t = super.transformSelectQuery(node);
    return this.#scope(t, t.from?.froms ?? []);
  }

  protected override transformUpdateQuery(node: UpdateQueryNode): UpdateQueryNode {
    const t = super.transformUpdateQuery(node);
    return this.#scope(t, [...(t.table === undefined ? [] : [t.table]), ...(t.from?.froms ?? [])]);
  }

  protected override transformDeleteQuery(node: DeleteQueryNode): DeleteQueryNode {
    const t = super.transformDeleteQuery(node);
    return this.#scope(t, [...t.from.froms, ...(t.using?.tables ?? [])]);
  }

  protected override transformInsertQuery(node: InsertQueryNode): InsertQueryNode {
    const t = super.transformInsertQuery(node);
    const into = t.into;
    if (into === undefined || !this.#tables.has(into.table.identifier.name)) return t;
    // Already scoped (a builder's node carries its own instance's plugins, and may be embedded in another query).
    if (t.columns?.some((c) => c.column.name === TENANT_COLUMN)) return t;
    if (t.columns === undefined || t.values === undefined) {
      throw new UnscopedStatementError(`insert into ${into.table.identifier.name} without a column list`);
    }
    const columns = [...t.columns, ColumnNode.create(TENANT_COLUMN)];
    const values = this.#values(t.values, into.table.identifier.name);
    const onConflict =
      t.onConflict?.columns === undefined
        ? t.onConflict
        : { ...t.onConflict, columns: [ColumnNode.create(TENANT_COLUMN), ...t.onConflict.columns] };
    return { ...t, columns, values, ...(onConflict === undefined ? {} : { onConflict }) };
  }

  #values(values: OperationNode, table: string): OperationNode {
    if (ValuesNode.is(values)) {
      return ValuesNode.create(
        values.values.map((row) =>
          PrimitiveValueListNode.is(row)
            ? PrimitiveValueListNode.create([...row.values, this.#tenant])
            : ValueListNode.create([...row.values, ValueNode.create(this.#tenant)]),
        ),
      );
    }
    if (SelectQueryNode.is(values)) {
      const tenant = SelectionNode.create(
        AliasNode.create(ValueNode.create(this.#tenant), IdentifierNode.create(TENANT_COLUMN)),
      );
      return SelectQueryNode.cloneWithSelections(values, [tenant]);
    }
    if (RawNode.is(values)) {
      // `insert ... (cols) <raw select>`: the raw rows, each with the tenant after its columns.
      return RawNode.create(
        ['select mk_rows.*, ', ' from (', ') as mk_rows'],
        [ValueNode.create(this.#tenant), values],
      );
    }
    throw new UnscopedStatementError(`insert into ${table}: values of kind ${values.kind}`);
  }
}

/**
 * Scopes every query builder statement over Marketkit's tables to one tenant: a `tenant = $1` condition for each
 * of them in FROM, JOIN (in its ON), UPDATE and DELETE, and the tenant column in every insert and ON CONFLICT
 * target. Runs on logical table names, so it goes before the table prefix plugin. Raw SQL (`sql` templates) is not
 * rewritten: those statements carry the tenant themselves, and the tenancy test checks every statement sent.
 *
 * `tenant` is the value bound: the tenant itself, or a statement template's parameter marker.
 * @internal
 */
export class TenantPlugin implements KyselyPlugin {
  readonly #transformer: TenantTransformer;
  constructor(tables: Iterable<string>, tenant: unknown) {
    this.#transformer = new TenantTransformer(new Set(tables), tenant);
  }
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.#transformer.transformNode(args.node);
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}
