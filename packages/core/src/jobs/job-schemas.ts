import { z } from 'zod';

/** @internal */
export const scheduleJobSchema = z.strictObject({
  kind: z.string().min(1).max(100),
  runAt: z.number().int().nonnegative(),
  payload: z.unknown().optional(),
  dedupeKey: z.string().min(1).max(300).optional(),
});
