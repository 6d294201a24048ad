import { type EffectName, purchaseProcess } from '@marketkit/core';
import { describe, expect, it } from 'vitest';
import {
  buyerShare,
  commission,
  PURCHASE_TABLE,
  STATES,
  type TableRow,
  TERMINAL_STATES,
} from './fixtures/purchase-table.js';

type Columns = Pick<TableRow, 'escrow' | 'refund' | 'seller' | 'stock' | 'provider'>;

/** What each effect of a process means in the table's columns (an effect names only the columns it sets). */
const MEANS: Readonly<Record<EffectName, Partial<Columns>>> = {
  captureToEscrow: { escrow: 'fill', provider: 'capture' },
  markStockSold: { stock: 'sold' },
  voidAuthorization: { provider: 'void' },
  releaseStock: { stock: 'release' },
  refundBuyer: { escrow: 'empty', refund: 'escrow', provider: 'refund' },
  refundBuyerPartial: { escrow: 'less', refund: 'amount', provider: 'refund' },
  releaseToSeller: { escrow: 'empty', seller: 'escrowLessCommission' },
  freezeEscrow: { escrow: 'freeze' },
  resolveSplit: { escrow: 'empty', refund: 'buyerShare', seller: 'restLessCommission', provider: 'refund' },
  reserveStock: {},
  authorizePayment: {},
  notify: {},
};
const NOTHING: Columns = { escrow: 'keep', refund: 'none', seller: 'none', stock: 'none', provider: 'none' };

/** The process's transitions as table rows, read from `purchaseProcess()` itself. */
function rowsOfProcess() {
  return purchaseProcess().transitions.flatMap((t) =>
    (typeof t.from === 'string' ? [t.from] : t.from).map((state) => ({
      state,
      transition: t.name,
      roles: t.engine === true ? [] : [...t.actors].sort(),
      engine: t.engine === true,
      next: t.to,
      ...Object.assign({ ...NOTHING }, ...(t.effects ?? []).map((e) => MEANS[e])),
      refundWithinEscrow: (t.guards ?? []).includes('refundWithinEscrow'),
      ...(t.afterMs === undefined ? {} : { afterMs: t.afterMs }),
    })),
  );
}

const key = (r: { state: string; transition: string }) => `${r.state} --${r.transition}-->`;

describe('the hand-written purchase table', () => {
  it('agrees with purchaseProcess(): the same rows, roles, next states, effects, guards and timers', () => {
    const table = PURCHASE_TABLE.map((r) => ({ ...r, roles: [...r.roles].sort() }));
    const byKey = (rows: readonly { state: string; transition: string }[]) =>
      Object.fromEntries(rows.map((r) => [key(r), r]));
    expect(byKey(rowsOfProcess())).toEqual(byKey(table));
    expect(rowsOfProcess()).toHaveLength(PURCHASE_TABLE.length);
  });

  it('has the same states, terminal ones included, and engine transitions fired by system only', () => {
    const p = purchaseProcess();
    expect(Object.keys(p.states).sort()).toEqual([...STATES].sort());
    expect(
      Object.entries(p.states)
        .filter(([, s]) => s.terminal === true)
        .map(([name]) => name)
        .sort(),
    ).toEqual([...TERMINAL_STATES].sort());
    for (const t of p.transitions.filter((x) => x.engine === true)) expect(t.actors).toEqual(['system']);
    expect(p.initial).toBe('checkout');
  });

  it('gives a buyer or seller the same roles for a transition from every state it leaves', () => {
    for (const r of PURCHASE_TABLE) {
      const others = PURCHASE_TABLE.filter((o) => o.transition === r.transition);
      for (const o of others) expect(o.roles, key(o)).toEqual(r.roles);
    }
  });

  it('splits and charges commission to the minor unit, by hand', () => {
    expect([0, 30, 50, 100].map((p) => buyerShare(4001n, p))).toEqual([0n, 1200n, 2001n, 4001n]);
    expect(buyerShare(5n, 50)).toBe(3n); // 2.5 rounds half up
    expect(commission(4000n, 100)).toBe(400n); // 10 %
    expect(commission(1999n, 125)).toBe(250n); // 249.875 → 250
    expect(commission(4n, 125)).toBe(0n); // 0.5 → 0 (half to even)
    expect(commission(12n, 125)).toBe(2n); // 1.5 → 2 (half to even)
    expect(commission(100n, 100, 50n)).toBe(50n); // raised to the minimum
    expect(commission(30n, 100, 50n)).toBe(30n); // never more than the base
    expect(commission(0n, 100, 50n)).toBe(0n);
  });
});
