import { z } from 'zod';
import { currencyCodeSchema } from '../money/currency.js';
import { ANALYTICS_LIMITS, DAY_MS } from './analytics-limits.js';

const midnight = z.date().refine((d) => !Number.isNaN(d.getTime()) && d.getTime() >= 0 && d.getTime() % DAY_MS === 0, {
  error: 'must be a valid date at 00:00 UTC, not before 1970',
});

/** The zod schema of `analytics.daily`'s input. */
export const dailyInputSchema = z
  .strictObject({ from: midnight, to: midnight, currency: currencyCodeSchema.optional() })
  .refine((i) => i.from.getTime() < i.to.getTime(), { error: 'from must be before to', path: ['to'] })
  .refine((i) => i.to.getTime() - i.from.getTime() <= ANALYTICS_LIMITS.maxDays * DAY_MS, {
    error: `the range must not exceed ${ANALYTICS_LIMITS.maxDays} days`,
    path: ['to'],
  });
