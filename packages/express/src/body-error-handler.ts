import type { ErrorRequestHandler } from 'express';
import { sendError, sendProblem } from './http-answers.js';
import { problem } from './problem.js';

/** body-parser's errors (malformed JSON, too large, unsupported encoding) and anything passed to next(), as problems. */
export const bodyErrorHandler: ErrorRequestHandler = (error: unknown, _req, res, next) => {
  if (res.headersSent) return next(error);
  const type = typeof error === 'object' && error !== null ? (error as { type?: unknown }).type : undefined;
  if (type === 'entity.too.large') {
    return sendProblem(res, problem('VALIDATION_FAILED', 'The request body is too large.', {}, 413));
  }
  if (type === 'entity.parse.failed') {
    return sendProblem(res, problem('VALIDATION_FAILED', 'The request body is not valid JSON.', { issues: [] }));
  }
  if (type !== undefined && (error as { status?: unknown }).status === 415) {
    return sendProblem(res, problem('VALIDATION_FAILED', 'The request body encoding is not supported.', {}, 415));
  }
  sendError(res, error);
};
