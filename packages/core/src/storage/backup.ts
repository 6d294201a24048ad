import { sql } from 'kysely';
import { z } from 'zod';
import { MarketkitError } from '../errors/marketkit-error.js';
import { isStorableText, UNSTORABLE_TEXT_MESSAGE } from '../errors/storable-text.js';
import { parseInput } from '../errors/validation-error.js';
import type { Storage } from './storage.js';
import type { BackupResult, StorageAdapter } from './storage-adapter.js';

/**
 * The destination of `market.backup(path)`: a file path, not empty, storable text, and no SQLite special name
 * (`:memory:`, an empty temporary database, or a `file:` URI), which would not leave a file to restore from.
 * The adapter refuses the live database's own file.
 * @internal
 */
export const backupPathSchema = z
  .string()
  .trim()
  .min(1)
  .refine(isStorableText, UNSTORABLE_TEXT_MESSAGE)
  .refine((p) => p !== ':memory:' && !p.startsWith('file:'), 'must be a file path, not :memory: or a file: URI');

/**
 * Runs `market.backup(path)`: checks the path, then asks the adapter for its online copy (`BACKUP_UNSUPPORTED`
 * when it has none). The adapter's connection is opened first, so a backup of a marketplace that has not run a
 * statement yet copies its database rather than failing.
 * @internal
 */
export async function backupDatabase(storage: Storage, adapter: StorageAdapter, path: unknown): Promise<BackupResult> {
  const destination = parseInput(backupPathSchema, path, 'backup path');
  if (adapter.backup === undefined) {
    throw new MarketkitError('BACKUP_UNSUPPORTED', {
      message:
        `The ${adapter.name} adapter cannot copy its database online: back it up with ` +
        `${adapter.name === 'postgres' ? 'pg_dump -Fc or PITR (base backups + WAL archiving)' : 'the database’s own tools'}; see docs/operations.md, Backups.`,
      details: {
        adapter: adapter.name,
        use: adapter.name === 'postgres' ? 'pg_dump or PITR' : 'the database’s own tools',
      },
    });
  }
  await sql`select 1`.execute(storage.db);
  return adapter.backup(destination);
}
