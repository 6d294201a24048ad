import { Readable } from 'node:stream';
import type { Storage } from '../storage/storage.js';
import { encodeExportCursor } from './export-cursor.js';
import { csvHeader, csvWriter, type ExportFormat, ndjsonWriter } from './export-format.js';
import type { ExportSource } from './export-source.js';

/** A checked export request: where to start, how much, how. @internal */
export interface ExportPlan {
  readonly format: ExportFormat;
  readonly afterKey: string | undefined;
  readonly limit: number;
  readonly batchSize: number;
  readonly header: boolean;
}

/**
 * The export's text, one batch of lines per chunk: reads a batch (a statement on its own, no transaction held open
 * between batches) only when the consumer asks for the next chunk, and keys the next batch on the last row read.
 */
async function* exportChunks(storage: Storage, source: ExportSource, plan: ExportPlan): AsyncGenerator<string> {
  const capabilities = storage.adapter.capabilities;
  const write = plan.format === 'csv' ? csvWriter() : ndjsonWriter(source.columns);
  if (plan.format === 'csv' && plan.header) yield csvHeader(source.columns);
  let after = plan.afterKey;
  for (let left = plan.limit; left > 0; ) {
    const n = Math.min(plan.batchSize, left);
    const records = await storage.read((db) => source.read(db, capabilities, after, n), 'latest');
    let chunk = '';
    for (const r of records) chunk += write(r.values, encodeExportCursor(source.kind, storage.tenant, r.key));
    if (chunk !== '') yield chunk;
    if (records.length < n) return;
    left -= records.length;
    after = records.at(-1)?.key;
  }
}

/**
 * The export as a stream of UTF-8 text. `Readable.from` asks the generator for the next chunk only while the
 * stream's buffer is below its high-water mark; with a mark of one character (its default, written out), only once
 * the consumer has taken every chunk read so far: the next batch is read after the consumer drains the last
 * (back-pressure), so one batch at most waits in the stream. Destroying the stream ends the generator between
 * batches.
 * @internal
 */
export function exportStream(storage: Storage, source: ExportSource, plan: ExportPlan): Readable {
  return Readable.from(exportChunks(storage, source, plan), { objectMode: false, encoding: 'utf8', highWaterMark: 1 });
}
