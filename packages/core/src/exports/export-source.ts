import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { MarketkitDatabase } from '../schema/database.js';
import type { StorageCapabilities } from '../storage/storage-adapter.js';
import type { ExportKind } from './export-cursor.js';
import type { ExportRecord, ExportValue } from './export-row.js';

/**
 * What one kind of export reads: its columns, and a batch of rows after a key in a stable order of a unique key,
 * through the tenant-scoped `db`. Each kind lives in its own file (`order-export.ts`, …).
 * @internal
 */
export interface ExportSource {
  readonly kind: ExportKind;
  readonly columns: readonly string[];
  /** What a key inside a cursor must look like. */
  readonly keySchema: z.ZodType<string>;
  /** At most `limit` rows after `after` (from the first when undefined), in key order. */
  read(
    db: Kysely<MarketkitDatabase>,
    capabilities: StorageCapabilities,
    after: string | undefined,
    limit: number,
  ): Promise<readonly ExportRecord[]>;
}

/** A column: its name and how a row gives its value. @internal */
export type ExportColumn<Row> = readonly [name: string, value: (row: Row) => ExportValue];

/** The names of `columns`, and a function that gives a row's values in their order. @internal */
export function columnsOf<Row>(columns: readonly ExportColumn<Row>[]): {
  readonly names: readonly string[];
  readonly values: (row: Row) => readonly ExportValue[];
} {
  return { names: columns.map(([name]) => name), values: (row) => columns.map(([, value]) => value(row)) };
}
