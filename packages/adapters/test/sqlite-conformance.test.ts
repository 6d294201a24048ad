import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { runAdapterConformance } from '@marketkit/testing/conformance';

runAdapterConformance({
  name: 'sqlite',
  async createAdapter() {
    const dir = mkdtempSync(join(tmpdir(), 'marketkit-conformance-'));
    const file = join(dir, 'test.db');
    return {
      adapter: sqliteAdapter({ filename: file, synchronous: 'NORMAL' }),
      location: file,
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  openAdapter: (file, { lockTimeoutMs }) =>
    sqliteAdapter({
      filename: file,
      synchronous: 'NORMAL',
      ...(lockTimeoutMs === undefined ? {} : { busyTimeoutMs: lockTimeoutMs }),
    }),
});
