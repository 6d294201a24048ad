import { testBackends } from '@marketkit/testing';
import { afterEach, describe, expect, it } from 'vitest';

describe('testBackends', () => {
  const saved = process.env['MARKETKIT_BACKENDS'];
  afterEach(() => {
    if (saved === undefined) delete process.env['MARKETKIT_BACKENDS'];
    else process.env['MARKETKIT_BACKENDS'] = saved;
  });
  const names = (value: string | undefined) => {
    if (value === undefined) delete process.env['MARKETKIT_BACKENDS'];
    else process.env['MARKETKIT_BACKENDS'] = value;
    return testBackends().map((b) => b.name);
  };

  it('is every backend when MARKETKIT_BACKENDS is unset, else those it names', () => {
    expect(names(undefined)).toEqual(['sqlite', 'postgres']);
    expect(names('postgres')).toEqual(['postgres']);
    expect(names(' sqlite ')).toEqual(['sqlite']);
    expect(names('postgres,sqlite')).toEqual(['sqlite', 'postgres']);
  });

  it('runs pgbouncer only when named, as PostgreSQL through MARKETKIT_PG_POOLER_URL, and refuses it without that URL', () => {
    const pooler = process.env['MARKETKIT_PG_POOLER_URL'];
    try {
      process.env['MARKETKIT_PG_POOLER_URL'] = 'postgres://root@127.0.0.1:6432/postgres';
      expect(names('pgbouncer')).toEqual(['postgres']);
      expect(names('sqlite,pgbouncer')).toEqual(['sqlite', 'postgres']);
      delete process.env['MARKETKIT_PG_POOLER_URL'];
      expect(() => names('pgbouncer')).toThrow('set MARKETKIT_PG_POOLER_URL');
      expect(names(undefined)).toEqual(['sqlite', 'postgres']);
    } finally {
      if (pooler === undefined) delete process.env['MARKETKIT_PG_POOLER_URL'];
      else process.env['MARKETKIT_PG_POOLER_URL'] = pooler;
    }
  });

  it('throws on a name that is no backend, an empty list or a name given twice, rather than dropping a backend', () => {
    for (const bad of ['postgress', 'sqlite,pg', 'SQLite', '', ',', 'sqlite,', 'sqlite,sqlite']) {
      expect(() => names(bad), bad).toThrow(`MARKETKIT_BACKENDS must list backends among sqlite, postgres`);
    }
    expect(() => names('sqlite,pg')).toThrow("(unknown: 'pg')");
  });
});
