import { z } from 'zod';
import { storableText } from '../errors/storable-text.js';

/** @internal */
export const scheduleJobSchema = z.strictObject({
  kind: storableText().min(1).max(100),
  runAt: z.number().int().nonnegative(),
  payload: z.unknown().optional(),
  dedupeKey: storableText().min(1).max(300).optional(),
});

/** A job id, as `Jobs.get` takes it. @internal */
export const jobIdSchema = storableText().min(1).max(200);
