import type { Readable } from 'node:stream';
import { parseInput, ValidationError } from '../errors/validation-error.js';
import type { Storage } from '../storage/storage.js';
import { decodeExportCursor } from './export-cursor.js';
import { DEFAULT_EXPORT_BATCH_SIZE, type ExportOptions, exportOptionsSchema } from './export-options.js';
import type { ExportSource } from './export-source.js';
import { exportStream } from './export-stream.js';
import { orderEventExport } from './order-event-export.js';
import { orderExport } from './order-export.js';
import { transferExport } from './transfer-export.js';

/**
 * Exports for a warehouse: orders, transfers and order events as NDJSON or CSV streams, read in keyset batches
 * (constant memory, whatever the row count), each row carrying the cursor to resume after it. See
 * docs/operations.md, "Exporting to a warehouse", for the columns.
 *
 * @example
 * ```ts
 * // Every transfer as CSV into a file; an interrupted run resumes with `after`, the last written row's cursor.
 * await pipeline(market.exports.transfers({ format: 'csv' }), createWriteStream('transfers.csv'));
 * ```
 */
export class Exports {
  readonly #storage: Storage;

  /** @internal built by `createMarketplace`. */
  constructor(storage: Storage) {
    this.#storage = storage;
  }

  /**
   * Every order as it is when its batch is read, in id order: one row per order (state, parties, amounts in minor
   * units, times). An order changes after it is written out; to follow the changes export {@link Exports.orderEvents}.
   * Throws `VALIDATION_FAILED` at once for bad options or a cursor that is not this export's.
   *
   * @example
   * ```ts
   * import { createWriteStream } from 'node:fs';
   * import { pipeline } from 'node:stream/promises';
   *
   * await pipeline(market.exports.orders({ format: 'csv' }), createWriteStream('orders.csv'));
   * ```
   */
  orders(options: ExportOptions): Readable {
    return this.#export(orderExport, options);
  }

  /**
   * The ledger's transfers (append-only), in id order, amounts in minor units, each flag a column.
   * Throws `VALIDATION_FAILED` at once for bad options or a cursor that is not this export's.
   *
   * @example
   * ```ts
   * // Resume an interrupted NDJSON export after the last complete line written.
   * const lines = readFileSync('transfers.ndjson', 'utf8').split('\n').filter((l) => l !== '');
   * const after = lines.length === 0 ? undefined : JSON.parse(lines.at(-1)!).cursor;
   * await pipeline(
   *   market.exports.transfers({ format: 'ndjson', ...(after === undefined ? {} : { after }) }),
   *   createWriteStream('transfers.ndjson', { flags: 'a' }),
   * );
   * ```
   */
  transfers(options: ExportOptions): Readable {
    return this.#export(transferExport, options);
  }

  /**
   * Order events in commit order, the order feed's (`orders.feed`): exporting again from the last cursor reads
   * exactly the events committed since, none missed, none twice, with any number of writers. On PostgreSQL an export
   * stops before events that an older transaction, still running, may yet precede; the next one reads them.
   * Throws `VALIDATION_FAILED` at once for bad options or a cursor that is not this export's.
   *
   * @example
   * ```ts
   * // An HTTP handler: the response's back-pressure paces the reads.
   * res.setHeader('content-type', 'application/x-ndjson');
   * await pipeline(market.exports.orderEvents({ format: 'ndjson', after: req.query.after }), res);
   * ```
   */
  orderEvents(options: ExportOptions): Readable {
    return this.#export(orderEventExport, options);
  }

  #export(source: ExportSource, options: ExportOptions): Readable {
    const o = parseInput(exportOptionsSchema, options, 'export options');
    const afterKey = o.after === undefined ? undefined : decodeExportCursor(o.after, source.kind, this.#storage.tenant);
    if (afterKey !== undefined && !source.keySchema.safeParse(afterKey).success) {
      throw new ValidationError([{ path: ['after'], message: 'is not a cursor returned by an export' }]);
    }
    return exportStream(this.#storage, source, {
      format: o.format,
      afterKey,
      limit: o.limit ?? Number.MAX_SAFE_INTEGER,
      batchSize: o.batchSize ?? DEFAULT_EXPORT_BATCH_SIZE,
      header: o.header ?? o.after === undefined,
    });
  }
}
