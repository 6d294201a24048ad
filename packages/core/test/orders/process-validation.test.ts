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
    {
      name: 'confirmPayment',
      from: 'open',
      to: 'paid',
      actors: ['system'],
      engine: true,
      effects: ['captureToEscrow'],
    },
    { name: 'finish', from: 'paid', to: 'done', actors: ['buyer'], effects: ['releaseToSeller'] },
    { name: 'cancelUnpaid', from: 'open', to: 'gone', actors: ['buyer'] },
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
    p.transitions.push({ name: 'finish', from: 'open', to: 'paid', actors: ['buyer'] });
    const issues = issuesOf(p);
    expect(issues).toContain('non-terminal state limbo has no way out');
    expect(issues).toContain('transition revive leaves terminal state done');
    expect(issues).toContain('transition finish is declared twice');
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

  it('requires a capture into escrow, and confirmPayment, to be engine transitions fired by the system only', () => {
    const p = base();
    p.transitions[0] = {
      name: 'confirmPayment',
      from: 'open',
      to: 'paid',
      actors: ['system'],
      effects: ['captureToEscrow'],
    };
    p.transitions.push({ name: 'pay', from: 'open', to: 'paid', actors: ['buyer'], effects: ['captureToEscrow'] });
    const issues = issuesOf(p);
    expect(issues).toContain(
      'transition confirmPayment captures into escrow, which only the checkout saga can do: mark it engine',
    );
    expect(issues).toContain('transition confirmPayment is fired by the checkout saga: mark it engine');
    expect(issues).toContain(
      'transition pay captures into escrow, which only the checkout saga can do: mark it engine',
    );
  });

  it('rejects an engine transition a host could fire or a timer fires', () => {
    const p = base();
    p.transitions[0] = {
      name: 'confirmPayment',
      from: 'open',
      to: 'paid',
      actors: ['system', 'operator'],
      engine: true,
      effects: ['captureToEscrow'],
    };
    p.transitions.push({ name: 'settle', from: 'paid', to: 'done', actors: ['system'], engine: true, afterMs: 5 });
    const issues = issuesOf(p);
    expect(issues).toContain('engine transition confirmPayment must list system as its only actor');
    expect(issues).toContain('engine transition settle cannot be timed');
  });

  it("requires the checkout saga's confirmPayment and cancelUnpaid out of the initial state", () => {
    const p = base();
    p.transitions = p.transitions.filter((t) => t.name !== 'cancelUnpaid');
    p.transitions.push({ name: 'drop', from: 'open', to: 'gone', actors: ['buyer'] });
    p.transitions[0] = { ...p.transitions[0]!, from: 'paid', to: 'done', effects: [] };
    p.transitions.push({ name: 'start', from: 'open', to: 'paid', actors: ['buyer'] });
    const issues = issuesOf(p);
    expect(issues).toContain(
      'the checkout saga needs an engine transition confirmPayment from open with the captureToEscrow effect',
    );
    expect(issues).toContain('the checkout saga needs a transition cancelUnpaid from open to a terminal state');
  });

  describe('payments that need the customer (awaitCustomer)', () => {
    /** `base()` with a customer-action state `waiting`, as `purchaseProcess()` declares `awaitingCustomer`. */
    const withWaiting = (): ProcessDefinitionInput => {
      const p = base();
      return {
        ...p,
        states: { ...p.states, waiting: {} },
        transitions: [
          ...p.transitions.map((t) =>
            t.name === 'confirmPayment' || t.name === 'cancelUnpaid' ? { ...t, from: ['open', 'waiting'] } : t,
          ),
          { name: 'awaitCustomer', from: 'open', to: 'waiting', actors: ['system'], engine: true },
          {
            name: 'giveUp',
            from: 'waiting',
            to: 'gone',
            actors: ['system'],
            afterMs: 60_000,
            effects: ['voidAuthorization', 'releaseStock'],
          },
        ],
      };
    };

    it('accepts a process without the state (such a checkout fails with CUSTOMER_ACTION_UNSUPPORTED) and one with it', () => {
      expect(issuesOf(base())).toEqual([]);
      expect(issuesOf(withWaiting())).toEqual([]);
      expect(defineProcess(purchaseProcess({ customerActionMs: 5 * 60_000 })).states['awaitingCustomer']).toBeDefined();
    });

    it('requires awaitCustomer to be an engine transition from the initial state to a non-terminal state, with no effects', () => {
      const p = withWaiting();
      p.transitions = p.transitions.map((t) =>
        t.name === 'awaitCustomer' ? { ...t, engine: false, from: ['open', 'paid'], effects: ['notify'] } : t,
      );
      const issues = issuesOf(p);
      expect(issues).toContain('transition awaitCustomer is fired by the checkout saga: mark it engine');
      expect(issues).toContain('transition awaitCustomer must leave open only');
      expect(issues).toContain('transition awaitCustomer moves no money or stock: no effects');
      const q = withWaiting();
      q.transitions = q.transitions.map((t) => (t.name === 'awaitCustomer' ? { ...t, to: 'gone' } : t));
      expect(issuesOf(q)).toContain('transition awaitCustomer must go to a non-terminal waiting state');
    });

    it('requires confirmPayment, cancelUnpaid and a timeout that voids and releases out of the waiting state', () => {
      const p = withWaiting();
      p.transitions = p.transitions
        .filter((t) => t.name !== 'giveUp')
        .map((t) => (t.name === 'confirmPayment' || t.name === 'cancelUnpaid' ? { ...t, from: 'open' } : t));
      p.transitions.push({ name: 'leave', from: 'waiting', to: 'gone', actors: ['buyer'] });
      const issues = issuesOf(p);
      expect(issues).toContain(
        'the checkout saga needs confirmPayment (captureToEscrow) from waiting, the state awaitCustomer enters',
      );
      expect(issues).toContain('the checkout saga needs cancelUnpaid from waiting to a terminal state');
      expect(issues).toContain(
        'state waiting needs a timed transition to a terminal state with voidAuthorization and releaseStock (a customer who never acts)',
      );
      expect(issues).toContain(
        'transition leave leaves waiting, where the checkout saga waits for the customer: only confirmPayment and cancellations (to a terminal state, voidAuthorization and releaseStock) may',
      );
    });
  });
});
