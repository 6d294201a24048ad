import { describe, expect, it } from 'vitest';
import { defineProcess, type ProcessDefinitionInput, purchaseProcess } from '../../src/orders/process/index.js';

function issuesOf(input: ProcessDefinitionInput): string[] {
  try {
    defineProcess(input);
  } catch (e) {
    const err = e as { code?: string; issues?: { message: string }[] };
    expect(err.code).toBe('VALIDATION_FAILED');
    return (err.issues ?? []).map((i) => i.message);
  }
  return [];
}

const base = (): ProcessDefinitionInput => ({
  name: 'tiny',
  version: 1,
  initial: 'open',
  states: { open: {}, paid: {}, done: { terminal: true }, gone: { terminal: true } },
  transitions: [
    { name: 'pay', from: 'open', to: 'paid', actors: ['buyer'], effects: ['captureToEscrow'] },
    { name: 'finish', from: 'paid', to: 'done', actors: ['buyer'], effects: ['releaseToSeller'] },
    { name: 'drop', from: 'open', to: 'gone', actors: ['buyer'] },
  ],
});

describe('transaction process validation', () => {
  it('accepts the default purchase-with-escrow process', () => {
    const p = defineProcess(purchaseProcess());
    expect(p.initial).toBe('checkout');
    expect(
      Object.entries(p.states)
        .filter(([, s]) => s.terminal)
        .map(([n]) => n),
    ).toEqual(['completed', 'cancelled', 'refunded', 'split']);
  });

  it('accepts a small valid process', () => {
    expect(issuesOf(base())).toEqual([]);
  });

  it('rejects a transition to an unknown state', () => {
    const p = base();
    p.transitions.push({ name: 'lost', from: 'paid', to: 'nowhere', actors: ['seller'] });
    expect(issuesOf(p)).toContain('transition lost goes to unknown state nowhere');
  });

  it('rejects an unreachable state', () => {
    const p = base();
    p.states['island'] = { terminal: true };
    expect(issuesOf(p)).toContain('state island is unreachable from open');
  });

  it('rejects a terminal state that can be entered with money left in escrow', () => {
    const p = base();
    p.transitions.push({ name: 'abandon', from: 'paid', to: 'gone', actors: ['buyer'] });
    expect(issuesOf(p)).toContain('terminal state gone can be reached with money left in escrow');
  });

  it('rejects leaving a terminal state, a dead-end state and duplicate names', () => {
    const p = base();
    p.states['limbo'] = {};
    p.transitions.push({ name: 'toLimbo', from: 'open', to: 'limbo', actors: ['buyer'] });
    p.transitions.push({ name: 'revive', from: 'done', to: 'open', actors: ['operator'] });
    p.transitions.push({ name: 'pay', from: 'open', to: 'paid', actors: ['buyer'] });
    const issues = issuesOf(p);
    expect(issues).toContain('non-terminal state limbo has no way out');
    expect(issues).toContain('transition revive leaves terminal state done');
    expect(issues).toContain('transition pay is declared twice');
  });

  it('rejects a malformed definition with field paths', () => {
    expect(
      issuesOf({ ...base(), transitions: [{ name: 'x', from: 'open', to: 'paid', actors: ['hacker' as 'buyer'] }] }),
    ).not.toEqual([]);
    expect(issuesOf({ ...base(), transitions: [] })).not.toEqual([]);
  });

  it('requires timed transitions to be fireable by the system', () => {
    const p = base();
    p.transitions.push({ name: 'timeout', from: 'open', to: 'gone', actors: ['buyer'], afterMs: 1000 });
    expect(issuesOf(p)).toContain('timed transition timeout must allow the system actor');
  });
});
