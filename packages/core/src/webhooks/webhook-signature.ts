import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The header carrying the signature: `t=<unix seconds>,v1=<hex>[,v1=<hex>]`. */
export const WEBHOOK_SIGNATURE_HEADER = 'Marketkit-Signature';
/** The header carrying the event id: the same on every attempt and redelivery, for receivers to deduplicate. */
export const WEBHOOK_EVENT_ID_HEADER = 'Marketkit-Event-Id';
/** Default tolerance of {@link verifyWebhookSignature} on the signature's timestamp: 5 minutes. */
export const DEFAULT_SIGNATURE_TOLERANCE_SEC = 300;

/** A new endpoint secret: `whsec_` and 32 random bytes, base64url. @internal */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

function hmacHex(secret: string, timestamp: number, body: string | Uint8Array): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(body);
  return mac.digest('hex');
}

/**
 * The `Marketkit-Signature` header value for `body` sent at `timestamp` (unix seconds): one `v1` per secret, each the
 * hex HMAC-SHA256 of `"<timestamp>.<body>"` under that secret.
 *
 * @example
 * ```ts
 * const header = signWebhookBody('{"id":"01J…"}', ['whsec_…'], Math.floor(Date.now() / 1000));
 * // 't=1767225600,v1=5f2b…'
 * ```
 */
export function signWebhookBody(body: string | Uint8Array, secrets: readonly string[], timestamp: number): string {
  return [`t=${timestamp}`, ...secrets.map((s) => `v1=${hmacHex(s, timestamp, body)}`)].join(',');
}

/** The timestamp and the `v1` signatures of a header, or `undefined` when it is malformed. */
function parseHeader(header: string): { timestamp: number; signatures: string[] } | undefined {
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  return timestamp === undefined || signatures.length === 0 ? undefined : { timestamp, signatures };
}

/**
 * For receivers: true when `header` (the `Marketkit-Signature` value) signs exactly `body` (the raw request body,
 * before any JSON parsing) under one of `secrets`, and its timestamp is within `toleranceSec` of `nowSec`. Compares
 * in constant time. Pass both secrets while you rotate. False for a missing or malformed header, a stale or future
 * timestamp, or no matching signature.
 *
 * @example
 * ```ts
 * app.post('/hooks', express.raw({ type: 'application/json' }), (req, res) => {
 *   if (!verifyWebhookSignature(req.body, req.get('Marketkit-Signature'), [process.env.WHSEC!])) return res.sendStatus(400);
 *   const event = JSON.parse(req.body.toString('utf8'));
 *   res.sendStatus(204);
 * });
 * ```
 */
export function verifyWebhookSignature(
  body: string | Uint8Array,
  header: string | null | undefined,
  secrets: string | readonly string[],
  toleranceSec: number = DEFAULT_SIGNATURE_TOLERANCE_SEC,
  nowSec: number = Math.floor(Date.now() / 1000),
): boolean {
  if (typeof header !== 'string' || header.length > 4096) return false;
  const parsed = parseHeader(header);
  if (parsed === undefined) return false;
  if (!(Math.abs(nowSec - parsed.timestamp) <= toleranceSec)) return false;
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  let ok = false;
  for (const secret of list) {
    const expected = Buffer.from(hmacHex(secret, parsed.timestamp, body), 'hex');
    for (const sig of parsed.signatures) {
      // Every pair is compared, so the time taken does not tell which one matched.
      if (timingSafeEqual(expected, Buffer.from(sig, 'hex'))) ok = true;
    }
  }
  return ok;
}
