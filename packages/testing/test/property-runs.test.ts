import { propertyRuns } from '@marketkit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

describe('propertyRuns', () => {
  const saved = { soak: process.env['MARKETKIT_SOAK'], factor: process.env['MARKETKIT_SOAK_FACTOR'] };
  const set = (name: string, value: string | undefined) => {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  };
  beforeEach(() => {
    set('MARKETKIT_SOAK', undefined);
    set('MARKETKIT_SOAK_FACTOR', undefined);
  });
  afterEach(() => {
    set('MARKETKIT_SOAK', saved.soak);
    set('MARKETKIT_SOAK_FACTOR', saved.factor);
  });

  it('is the base count in an ordinary run, and when MARKETKIT_SOAK is empty or 0', () => {
    expect(propertyRuns(100)).toBe(100);
    set('MARKETKIT_SOAK', '');
    expect(propertyRuns(100)).toBe(100);
    set('MARKETKIT_SOAK', '0');
    expect(propertyRuns(100)).toBe(100);
  });

  it('is ten times the base when soaking, or the base times MARKETKIT_SOAK_FACTOR', () => {
    set('MARKETKIT_SOAK', '1');
    expect(propertyRuns(100)).toBe(1000);
    set('MARKETKIT_SOAK_FACTOR', '2.5');
    expect(propertyRuns(100)).toBe(250);
    set('MARKETKIT_SOAK', undefined);
    expect(propertyRuns(15)).toBe(38);
  });

  it('ignores a factor that is not a positive number and never gives fewer than one run', () => {
    for (const bad of ['abc', '-3', '0', 'Infinity']) {
      set('MARKETKIT_SOAK_FACTOR', bad);
      expect(propertyRuns(40), bad).toBe(40);
    }
    set('MARKETKIT_SOAK_FACTOR', '0.001');
    expect(propertyRuns(40)).toBe(1);
  });
});
