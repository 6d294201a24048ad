import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createMarketplace } from '@marketkit/core';

const dir = mkdtempSync(join(tmpdir(), 'mkprof-'));
const market = createMarketplace({ adapter: sqliteAdapter({ filename: join(dir, 'p.db'), synchronous: 'NORMAL' }) });
await market.migrate();
const accounts = Array.from({ length: 300 }, (_, i) => ({ id: `u${i}`, currency: 'USD', code: 1 }));
await market.ledger.createAccounts([{ id: 'fund', currency: 'USD', code: 1 }, ...accounts]);
let n = 0;
const batch = () =>
  Array.from({ length: 1000 }, () => {
    const a = (n * 7) % 300;
    const b = (n * 13 + 1) % 300;
    return { id: `t${n++}`, debitAccountId: `u${a}`, creditAccountId: `u${b === a ? (b + 1) % 300 : b}`, amount: 5n, currency: 'USD', code: 1 };
  });
for (let i = 0; i < 10; i++) await market.ledger.createTransfers(batch());
const t0 = performance.now();
for (let i = 0; i < 40; i++) await market.ledger.createTransfers(batch());
console.log(`${((40 * 1000) / ((performance.now() - t0) / 1000)).toFixed(0)} tx/s`);
await market.close();
