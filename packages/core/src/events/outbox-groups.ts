/** The events of one aggregate in a batch: their indexes in the batch, in order. */
export interface AggregateGroup {
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly indexes: number[];
}

/**
 * `batch`'s events grouped by aggregate, groups sorted by (aggregate type, aggregate id): the one order every writer
 * locks counter rows in, so two transactions touching the same aggregates cannot deadlock on them.
 */
export function groupByAggregate(batch: readonly { aggregateType: string; aggregateId: string }[]): AggregateGroup[] {
  const byKey = new Map<string, AggregateGroup>();
  for (const [index, e] of batch.entries()) {
    const key = `${e.aggregateType}\u0000${e.aggregateId}`;
    const group = byKey.get(key);
    if (group === undefined)
      byKey.set(key, { aggregateType: e.aggregateType, aggregateId: e.aggregateId, indexes: [index] });
    else group.indexes.push(index);
  }
  // One lock order for everyone: sorted by aggregate.
  return [...byKey.values()].sort((a, b) =>
    a.aggregateType === b.aggregateType
      ? compare(a.aggregateId, b.aggregateId)
      : compare(a.aggregateType, b.aggregateType),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
