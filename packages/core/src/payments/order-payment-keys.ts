/**
 * The idempotency keys Marketkit derives from an order for its provider calls, made here and nowhere else
 * ({@link orderPaymentKeys}): `<order>:authorize`, `<order>:capture`, `<order>:void`, `<order>:<seq>:refund:<effect>`
 * for a transition's refund (its order event `seq`; effect `refundBuyer`, `refundBuyerPartial` or `resolveSplit`), and
 * `<order>:checkout:refund`, the one refund that gives back a checkout's capture the order never recorded (whoever
 * makes it: a cancel that found the hold captured, or the checkout saga's compensation). Releases before it also
 * used `<order>:<seq>:refund:uncaptured`, still read. A payout's key is its payout id. Order ids may contain `:`,
 * so keys are read from their end.
 */
export type OrderPaymentKey =
  | { readonly orderId: string; readonly step: 'authorize' | 'capture' | 'void' }
  /** A refund a transition recorded with order event `seq` (and escrow transfer `<order>:refund:<seq>`). */
  | { readonly orderId: string; readonly step: 'refund'; readonly seq: number; readonly effect: string }
  /** A refund that returns a capture the order did not record (a checkout that could not confirm). */
  | { readonly orderId: string; readonly step: 'compensatingRefund' };

/** Transition effects whose refund the order records (an escrow refund transfer with the same `seq`). */
export const RECORDED_REFUND_EFFECTS: readonly string[] = ['refundBuyer', 'refundBuyerPartial', 'resolveSplit'];

const STEP = /^(.+):(authorize|capture|void)$/;
const REFUND = /^(.+):(\d+):refund:([A-Za-z]+)$/;
const CHECKOUT_REFUND = /^(.+):checkout:refund$/;

/** What a key derived from an order says, or `undefined` for a key Marketkit's orders do not derive. */
export function parseOrderPaymentKey(key: string): OrderPaymentKey | undefined {
  const refund = REFUND.exec(key);
  if (refund !== null) {
    const [, orderId, seq, effect] = refund as unknown as [string, string, string, string];
    if (effect === 'uncaptured') return { orderId, step: 'compensatingRefund' };
    return RECORDED_REFUND_EFFECTS.includes(effect) ? { orderId, step: 'refund', seq: Number(seq), effect } : undefined;
  }
  const checkoutRefund = CHECKOUT_REFUND.exec(key);
  if (checkoutRefund !== null) return { orderId: checkoutRefund[1] as string, step: 'compensatingRefund' };
  const step = STEP.exec(key);
  if (step === null) return undefined;
  return { orderId: step[1] as string, step: step[2] as 'authorize' | 'capture' | 'void' };
}

/** The keys an order's provider calls are made with (by the orders engine) and looked up by (reconciliation). */
export const orderPaymentKeys = {
  /** The checkout's authorization. */
  authorize: (orderId: string) => `${orderId}:authorize`,
  /** The checkout's capture. */
  capture: (orderId: string) => `${orderId}:capture`,
  /** The void of the checkout's authorization (a cancel, an expired reservation, a compensation). */
  void: (orderId: string) => `${orderId}:void`,
  /** The refund of a transition's `effect`, made with order event `seq`. */
  refund: (orderId: string, seq: number, effect: string) => `${orderId}:${seq}:refund:${effect}`,
  /** The keys a transition with order event `seq` may have refunded with. */
  refunds: (orderId: string, seq: number) => RECORDED_REFUND_EFFECTS.map((e) => `${orderId}:${seq}:refund:${e}`),
  /** The refund of a checkout's capture that its order never recorded: one per order, whoever refunds it. */
  checkoutRefund: (orderId: string) => `${orderId}:checkout:refund`,
  /**
   * The keys of refunds that may have given back a capture the order never recorded: `checkoutRefund`, and the
   * per-event keys of earlier releases, up to order event `maxSeq`.
   */
  compensatingRefunds: (orderId: string, maxSeq: number) => [
    `${orderId}:checkout:refund`,
    ...Array.from({ length: maxSeq }, (_, i) => `${orderId}:${i + 1}:refund:uncaptured`),
  ],
} as const;
