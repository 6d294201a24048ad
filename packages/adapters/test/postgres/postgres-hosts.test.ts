import { postgresAdapter } from '@marketkit/adapters/postgres';
import { createMarketplace } from '@marketkit/core';
import { createFreshDatabase, type FreshDatabase, requirePostgresUrl } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePostgresHosts } from '../../src/postgres/postgres-hosts.js';

describe('postgres multi-host connection strings (libpq style)', () => {
  it('splits the hosts in order, each with the rest of the URL, without target_session_attrs', () => {
    expect(
      parsePostgresHosts('postgres://u:p@h1:5441,h2:5442/db?sslmode=disable&target_session_attrs=read-write'),
    ).toEqual({
      urls: ['postgres://u:p@h1:5441/db?sslmode=disable', 'postgres://u:p@h2:5442/db?sslmode=disable'],
      targetSessionAttrs: 'read-write',
    });
    expect(parsePostgresHosts('postgresql://h1,h2/db?target_session_attrs=primary&application_name=x')).toEqual({
      urls: ['postgresql://h1/db?application_name=x', 'postgresql://h2/db?application_name=x'],
      targetSessionAttrs: 'primary',
    });
    expect(parsePostgresHosts('postgres://u@h1,h2/db')?.targetSessionAttrs).toBe('any');
  });

  it('leaves a one-host URL without target_session_attrs to pg', () => {
    expect(parsePostgresHosts('postgres://u@h1:5432/db')).toBeUndefined();
    expect(parsePostgresHosts('/var/run/postgresql db')).toBeUndefined();
  });

  it('refuses a target_session_attrs it does not have, and an empty host, with VALIDATION_FAILED', () => {
    for (const connectionString of [
      'postgres://u@h1,h2/db?target_session_attrs=prefer-standby',
      'postgres://u@h1,,h2/db',
      'postgres://u@h1/db?target_session_attrs=nonsense',
      'postgres://u@h1/db?target_session_attrs=%zz',
      'postgres://u@/db?target_session_attrs=read-write',
    ]) {
      expect(() => postgresAdapter({ connectionString }), connectionString).toThrow(
        expect.objectContaining({ code: 'VALIDATION_FAILED' }),
      );
    }
  });

  describe('on a real server', () => {
    let fresh: FreshDatabase;
    beforeAll(async () => {
      fresh = await createFreshDatabase(requirePostgresUrl());
    });
    afterAll(async () => {
      await fresh?.drop();
    });

    it('skips a host that refuses connections and keeps the first read-write one', async () => {
      const url = new URL(fresh.url);
      // Port 1 on 127.0.0.1 refuses at once; the second host is the test server.
      const multi = `postgres://${url.username}@127.0.0.1:1,${url.host}${url.pathname}?target_session_attrs=read-write`;
      const market = createMarketplace({ adapter: postgresAdapter({ connectionString: multi, max: 2 }) });
      try {
        await market.migrate();
        const [r] = await market.ledger.createAccounts([{ id: 'multi-host', currency: 'USD', code: 1 }]);
        expect(r?.result).toBe('ok');
        expect((await market.ledger.getAccount('multi-host'))?.id).toBe('multi-host');
      } finally {
        await market.close();
      }
    });

    it('fails with a retryable CONNECTION_LOST when no host answers', async () => {
      const market = createMarketplace({
        adapter: postgresAdapter({
          connectionString: 'postgres://root@127.0.0.1:1,127.0.0.1:2/x?target_session_attrs=read-write',
        }),
      });
      try {
        await expect(market.ledger.getAccount('any')).rejects.toMatchObject({
          code: 'CONNECTION_LOST',
          retryable: true,
        });
      } finally {
        await market.close();
      }
    });
  });
});
