/** Ledger account ids the escrow flows use. */
export const escrowAccounts = {
  /** Where money from the payment provider enters and refunds and payouts leave (goes negative). */
  clearing: (currency: string) => `mk:clearing:${currency}`,
  /** The platform's commission income. */
  commission: (currency: string) => `mk:commission:${currency}`,
  /** A seller's balance, paid out through the provider. */
  seller: (sellerId: string, currency: string) => `mk:seller:${sellerId}:${currency}`,
  /** One order's escrow. */
  escrow: (orderId: string) => `mk:escrow:${orderId}`,
} as const;

/** Transfer codes of the escrow flows: each minor unit of a capture ends in exactly one of the last three. */
export const ESCROW_CODES = Object.freeze({
  capture: 1001,
  releaseToSeller: 1002,
  commission: 1003,
  refund: 1004,
  payout: 1010,
});

/** Account codes (kinds) of the escrow flows. */
export const ESCROW_ACCOUNT_CODES = Object.freeze({ clearing: 900, commission: 901, seller: 902, escrow: 903 });
