import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { createMarketplace } from '@marketkit/core';

const times = new Map<string, { n: number; us: number }>();
const proto = (Database as unknown as { prototype: { prepare: (sql: string) => unknown } }).prototype;
const orig = proto.prepare;
proto.prepare = function (this: unknown, sql: string) {
  const stmt = orig.call(this, sql) as Record<string, (...a: unknown[]) => unknown>;
  for (const m of ['run', 'all', 'get']) {
    const f = stmt[m]!.bind(stmt);
    stmt[m] = (...a: unknown[]) => {
      const t = performance.now();
      try { return f(...a); } finally {
        const k = sql.replace(/\s+/g, ' ').slice(0, 110);
        const e = times.get(k) ?? { n: 0, us: 0 };
        e.n++; e.us += (performance.now() - t) * 1000; times.set(k, e);
      }
    };
  }
  return stmt;
};
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
times.clear();
const t0 = performance.now();
for (let i = 0; i < 40; i++) await market.ledger.createTransfers(batch());
const wall = (performance.now() - t0) * 1000;
console.log(`wall per transfer ${(wall / 40000).toFixed(1)} us`);
for (const [k, v] of [...times].sort((a, b) => b[1].us - a[1].us)) console.log(`${(v.us / 40000).toFixed(2).padStart(7)} us/transfer  n/transfer ${(v.n / 40000).toFixed(2)}  ${(v.us / v.n).toFixed(2)} us each  ${k}`);
await market.close();
