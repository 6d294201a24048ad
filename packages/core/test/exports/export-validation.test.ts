// What an export refuses before reading anything (bad options, a cursor of another kind or marketplace), what it
// never reads (another tenant's rows), and the exact CSV and NDJSON it writes for awkward text.
import { createMarketplace, isMarketkitError, type Marketplace } from '@marketkit/core';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExport, readExport } from './fixtures/export-text.js';

function refusal(call: () => unknown): { code: string; paths: string[] } | undefined {
  try {
    call();
  } catch (error) {
    if (!isMarketkitError(error)) throw error;
    const issues = (error.details as { issues?: { path: string[] }[] }).issues ?? [];
    return { code: error.code, paths: issues.map((i) => i.path.join('.')) };
  }
  return undefined;
}

for (const backend of testBackends()) {
  describe(`export checks on ${backend.name}`, () => {
    let database: TestDatabase;
    let acme: Marketplace;
    let other: Marketplace;
    beforeAll(async () => {
      database = await backend.createDatabase();
      acme = createMarketplace({ adapter: database.adapter(), tenant: 'acme' });
      await acme.migrate();
      other = createMarketplace({ adapter: database.adapter(), tenant: 'other' });
      for (const market of [acme, other]) {
        await market.ledger.createAccounts([
          { id: 'a', currency: 'USD', code: 1 },
          { id: 'b', currency: 'USD', code: 1 },
        ]);
      }
      const transfer = { debitAccountId: 'a', creditAccountId: 'b', currency: 'USD', code: 7 } as const;
      await acme.ledger.createTransfers([
        { ...transfer, id: 't1', amount: 9_223_372_036_854_775_807n, reference: 'say "hi", then\r\nbye', userData: '' },
        { ...transfer, id: 't2', debitAccountId: 'b', creditAccountId: 'a', amount: 5n },
      ]);
      await other.ledger.createTransfers([{ ...transfer, id: 't0', amount: 1n, reference: "other's" }]);
    });
    afterAll(async () => {
      await acme?.close();
      await other?.close();
      await database?.drop();
    });

    it('refuses bad options at the call, before reading', () => {
      const bad: [unknown, string][] = [
        [{ format: 'xml' }, 'format'],
        [{ format: 'csv', batchSize: 0 }, 'batchSize'],
        [{ format: 'csv', batchSize: 10_001 }, 'batchSize'],
        [{ format: 'csv', limit: 1.5 }, 'limit'],
        [{ format: 'csv', header: 'yes' }, 'header'],
        [{ format: 'csv', after: '' }, 'after'],
        [{ format: 'csv', after: 'not a cursor!' }, 'after'],
        [{ format: 'csv', after: Buffer.from('[1,"transfers","acme"]').toString('base64url') }, 'after'],
        [{ format: 'csv', extra: 1 }, ''],
      ];
      for (const [options, path] of bad) {
        expect(refusal(() => acme.exports.transfers(options as never))).toEqual({
          code: 'VALIDATION_FAILED',
          paths: [path],
        });
      }
    });

    it('refuses a cursor of another kind of export or of another tenant', async () => {
      const rows = parseExport(await readExport(acme.exports.transfers({ format: 'ndjson' }), 'ndjson'), 'ndjson');
      const after = rows[0]?.cursor ?? '';
      expect(refusal(() => acme.exports.transfers({ format: 'csv', after }))).toBeUndefined();
      for (const call of [
        () => acme.exports.orders({ format: 'csv', after }),
        () => acme.exports.orderEvents({ format: 'csv', after }),
        () => other.exports.transfers({ format: 'csv', after }),
      ]) {
        expect(refusal(call)).toEqual({ code: 'VALIDATION_FAILED', paths: ['after'] });
      }
    });

    it("reads only its own tenant's rows", async () => {
      const ids = async (m: Marketplace) =>
        parseExport(await readExport(m.exports.transfers({ format: 'ndjson' }), 'ndjson'), 'ndjson').map(
          (r) => r['id'],
        );
      expect(await ids(acme)).toEqual(['t1', 't2']);
      expect(await ids(other)).toEqual(['t0']);
    });

    it('writes RFC 4180 CSV and NDJSON: quotes doubled, commas and CRLF quoted, null apart from empty, money exact', async () => {
      const csv = await readExport(acme.exports.transfers({ format: 'csv', limit: 1 }), 'csv');
      const [header, ...rest] = csv.split('\r\n');
      expect(header).toBe(
        'id,debit_account_id,credit_account_id,currency,amount_minor,code,reference,user_data,linked,pending,' +
          'post_pending,void_pending,pending_id,timeout_seconds,created_at,cursor',
      );
      const body = rest.join('\r\n');
      expect(body).toMatch(
        /^t1,a,b,USD,9223372036854775807,7,"say ""hi"", then\r\nbye","",false,false,false,false,,0,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,[A-Za-z0-9_-]+\r\n$/,
      );
      const json = await readExport(acme.exports.transfers({ format: 'ndjson', limit: 1 }), 'ndjson');
      expect(json).toMatch(
        /^\{"id":"t1",.*"amount_minor":"9223372036854775807",.*"reference":"say \\"hi\\", then\\r\\nbye","user_data":"",.*"pending_id":null,/,
      );
      expect(json.endsWith('}\n')).toBe(true);
    });
  });
}
