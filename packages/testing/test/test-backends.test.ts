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

  it('throws on a name that is no backend, an empty list or a name given twice, rather than dropping a backend', () => {
    for (const bad of ['postgress', 'sqlite,pg', 'SQLite', '', ',', 'sqlite,', 'sqlite,sqlite']) {
      expect(() => names(bad), bad).toThrow(`MARKETKIT_BACKENDS must list backends among sqlite, postgres`);
    }
    expect(() => names('sqlite,pg')).toThrow("(unknown: 'pg')");
  });
});
