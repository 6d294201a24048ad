import type { CommissionRule } from '../listings/listing-types.js';
import { Money } from '../money/money.js';

/**
 * The platform's commission on `base` (what the seller would receive): a percentage rounded by the rule's mode
 * (default half-even) and raised to its minimum, or a fixed amount; never more than `base`. The seller gets
 * exactly `base - commission`, so no minor unit is lost or invented.
 *
 * @example
 * ```ts
 * commissionOn(Money.of('120', 'USD'), { kind: 'percentage', percent: '12.5', minimumMinor: 200n }); // 15.00 USD
 * ```
 */
export function commissionOn(base: Money, rule: CommissionRule): Money {
  if (base.isZero() || base.isNegative()) return Money.zero(base.currency);
  let fee: Money;
  if (rule.kind === 'fixed') fee = Money.fromMinor(rule.amountMinor, base.currency);
  else {
    fee = base.percentage(rule.percent, rule.rounding ?? 'halfEven');
    const minimum = Money.fromMinor(rule.minimumMinor ?? 0n, base.currency);
    if (fee.lessThan(minimum)) fee = minimum;
  }
  return fee.greaterThan(base) ? base : fee;
}
