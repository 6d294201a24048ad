import http from 'node:http';
import https from 'node:https';
import { guardedLookup, literalTargetRefusal } from './webhook-target-guard.js';

/** What one POST came to: a status code, or an error (timeout, refused connection, refused target). */
export interface SendResult {
  readonly ok: boolean;
  readonly statusCode: number | null;
  readonly error: string | null;
}

/** One POST request to send. */
export interface SendRequest {
  readonly url: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** Most bytes of an answer read (and thrown away) before the socket is let go. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Sends webhook POSTs over keep-alive agents: a 2xx answer is success, anything else (another status, a timeout, a
 * refused or dropped connection, a host resolving to a non-public address) a failure with a short reason. The
 * answer's body is never kept (it is the receiver's data).
 * @internal
 */
export class WebhookSender {
  readonly #http = new http.Agent({ keepAlive: true, maxSockets: 64 });
  readonly #https = new https.Agent({ keepAlive: true, maxSockets: 64 });
  readonly #timeoutMs: number;
  readonly #allowPrivate: boolean;
  readonly #lookup: ReturnType<typeof guardedLookup>;

  constructor(timeoutMs: number, allowPrivate: boolean) {
    this.#timeoutMs = timeoutMs;
    this.#allowPrivate = allowPrivate;
    this.#lookup = guardedLookup(allowPrivate);
  }

  /** POSTs `req.body`; never rejects. */
  send(req: SendRequest): Promise<SendResult> {
    const refusal = literalTargetRefusal(req.url, this.#allowPrivate);
    if (refusal !== undefined) return Promise.resolve({ ok: false, statusCode: null, error: refusal });
    const url = new URL(req.url);
    const isHttps = url.protocol === 'https:';
    const signal = AbortSignal.timeout(this.#timeoutMs);
    return new Promise((resolve) => {
      const done = (r: SendResult) => resolve(r);
      const request = (isHttps ? https : http).request(
        url,
        {
          method: 'POST',
          agent: isHttps ? this.#https : this.#http,
          headers: { ...req.headers, 'content-length': Buffer.byteLength(req.body).toString() },
          signal,
          ...(this.#lookup === undefined ? {} : { lookup: this.#lookup }),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_ANSWER_BYTES) res.destroy();
          });
          res.on('error', () => {});
          const finish = () => {
            const ok = status >= 200 && status < 300;
            done({ ok, statusCode: status, error: ok ? null : `HTTP ${status}` });
          };
          res.on('end', finish);
          res.on('close', finish);
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (signal.aborted) done({ ok: false, statusCode: null, error: `timeout after ${this.#timeoutMs} ms` });
        else done({ ok: false, statusCode: null, error: error.code ?? 'request failed' });
      });
      request.end(req.body);
    });
  }

  /** Closes the idle keep-alive sockets. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
