import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseStripeForm, type StripeParams } from './stripe-form.js';
import {
  invalidRequest,
  noSuch,
  type StripeAnswer,
  type StripeEventObject,
  type StripePaymentIntentObject,
} from './stripe-objects.js';
import { searchAnswer } from './stripe-search.js';
import { type StripeRequestContext, StripeTestState } from './stripe-test-state.js';
import {
  type StripeWebhookDelivery,
  type StripeWebhookEndpoint,
  type StripeWebhookFault,
  StripeWebhookSender,
} from './stripe-webhook-sender.js';

/** The endpoints that change state, which faults can be injected into. */
export type StripeTestEndpoint =
  | 'payment_intents.create'
  | 'payment_intents.confirm'
  | 'payment_intents.capture'
  | 'payment_intents.cancel'
  | 'refunds.create'
  | 'transfers.create';

/**
 * A fault the server injects into the next request(s) to an endpoint:
 * - `rateLimit`: answers 429 (`rate_limit`) without doing anything; the key is not used up;
 * - `apiError`: answers 500 (`api_error`) without doing anything; the key is not used up;
 * - `stall`: never answers and does nothing (the request was lost on its way; a client with a `timeout` times out);
 * - `dropAfterApply`: does the request and records its answer under the key, then drops the connection unanswered;
 * - `dropTwiceAfterApply`: the same, and drops the next replay of its key too: the `stripe` client retries a closed
 *   connection once even with `maxNetworkRetries: 0` (the replay answers it), so this is how its caller sees the
 *   connection error; a later retry with the key gets the recorded answer;
 * - `stallAfterApply`: does it and records it, then never answers (a client with a `timeout` times out).
 */
export type StripeTestFault =
  | 'rateLimit'
  | 'apiError'
  | 'stall'
  | 'dropAfterApply'
  | 'dropTwiceAfterApply'
  | 'stallAfterApply';

/** Options of {@link startStripeTestServer}. */
export interface StripeTestServerOptions {
  /** Where object and event times come from (ms since the epoch). Default `Date.now`. */
  readonly now?: () => number;
  /** Where to send webhooks (every event, signed); default none. Also {@link StripeTestServer.setWebhookEndpoint}. */
  readonly webhookEndpoint?: StripeWebhookEndpoint;
}

/** A running Stripe-compatible test server; see {@link startStripeTestServer}. */
export interface StripeTestServer {
  /** `127.0.0.1`. */
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The config that points a `stripe` client here: `new Stripe('sk_test_x', server.clientConfig)`. */
  readonly clientConfig: { host: string; port: number; protocol: 'http'; maxNetworkRetries: 0 };
  /** Makes the next `times` requests to `endpoint` fail with `fault` (queued after faults already injected). */
  injectFault(endpoint: StripeTestEndpoint, fault: StripeTestFault, times?: number): void;
  /** Drops the faults injected and not yet used (and a pending second drop of `dropTwiceAfterApply`). */
  clearFaults(): void;
  /** The events raised so far, oldest first: what webhooks deliver. */
  events(): readonly StripeEventObject[];
  /** Sends the events raised from now on to `endpoint` (signed with its secret); `undefined` stops sending. */
  setWebhookEndpoint(endpoint: StripeWebhookEndpoint | undefined): void;
  /**
   * Makes the next `times` (default 1) deliveries, of events of `type` if given, meet `fault`: dropped, sent twice,
   * held back (out of order, see {@link StripeTestServer.releaseHeldWebhooks}) or delayed (late).
   */
  injectWebhookFault(fault: StripeWebhookFault, options?: { readonly times?: number; readonly type?: string }): void;
  /** Sends the held-back events, in the order they were raised or `reversed` (newest first); their deliveries. */
  releaseHeldWebhooks(order?: 'raised' | 'reversed'): Promise<readonly StripeWebhookDelivery[]>;
  /** Sends event `eventId` again now (as Stripe retries it, or a "resend"): an old event after newer ones. */
  redeliverWebhook(eventId: string): Promise<StripeWebhookDelivery>;
  /** Every delivery attempt so far, in the order they were answered (dropped ones with status `null`). */
  webhookDeliveries(): readonly StripeWebhookDelivery[];
  /** Resolves once every delivery started or delayed so far has been answered (held ones excepted). */
  webhooksSettled(): Promise<void>;
  /**
   * The customer completes (`succeeded`) or fails (`failed`) the 3-D Secure action of a `requires_action`
   * PaymentIntent: it becomes `requires_capture` (`payment_intent.amount_capturable_updated`) or
   * `requires_payment_method` (`payment_intent.payment_failed`), and the event goes to the webhook endpoint. A
   * PaymentIntent in another status (canceled meanwhile) is left as it is. Returns the PaymentIntent after.
   */
  completeThreeDSecure(paymentIntentId: string, outcome: 'succeeded' | 'failed'): StripePaymentIntentObject;
  /** How many requests each endpoint executed (replays, faults before execution and refusals not counted). */
  executed(endpoint: StripeTestEndpoint): number;
  /** The server's state, for assertions (PaymentIntents, Refunds, Transfers by id). */
  readonly state: StripeTestState;
  /** Stops the server and drops open connections (stalled ones too). */
  close(): Promise<void>;
}

interface Saved {
  readonly route: string;
  readonly fingerprint: string;
  readonly answer: StripeAnswer;
}

/**
 * Starts a local, in-memory server that speaks enough of Stripe's API for a payment provider's tests: PaymentIntents
 * (create with `confirm`, confirm, capture with `amount_to_capture`, cancel, list, search by exact fields and
 * metadata), Refunds and Transfers (create, list), and Events (list), sent as signed webhooks to an endpoint when one
 * is set (`webhookEndpoint`, with faults: {@link StripeWebhookFault}). Bodies are form-encoded as Stripe's; `Idempotency-Key` works as Stripe's (same key and
 * params → the first answer again with `Idempotent-Replayed: true`; other params or endpoint → 400
 * `idempotency_error`). Test payment methods: `pm_card_chargeDeclined` (and `…InsufficientFunds`, `…LostCard`,
 * `…StolenCard`) are declined (402 `card_error`), `pm_card_threeDSecure2Required` needs 3-D Secure (`requires_action`
 * with `next_action`), which {@link StripeTestServer.completeThreeDSecure} completes or fails as the customer would;
 * any other `pm_…`/`tok_…` succeeds. Faults: {@link StripeTestFault}.
 *
 * @example
 * ```ts
 * const server = await startStripeTestServer();
 * const stripe = new Stripe('sk_test_123', server.clientConfig);
 * server.injectFault('payment_intents.capture', 'dropAfterApply');
 * // … the capture is applied, the client sees StripeConnectionError, a retry with the same key replays it
 * await server.close();
 * ```
 */
export async function startStripeTestServer(options: StripeTestServerOptions = {}): Promise<StripeTestServer> {
  const state = new StripeTestState(options.now ?? (() => Date.now()));
  const webhooks = new StripeWebhookSender(options.webhookEndpoint);
  state.onEvent((event) => webhooks.raised(event));
  const saved = new Map<string, Saved>();
  const faults = new Map<StripeTestEndpoint, StripeTestFault[]>();
  const executed = new Map<StripeTestEndpoint, number>();
  const dropReplay = new Set<string>();

  const handle = (req: IncomingMessage, res: ServerResponse, body: string): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const requestId = `req_${randomBytes(8).toString('hex')}`;
    const send = (answer: StripeAnswer, replayed = false, key: string | null = null) => {
      res.writeHead(answer.status, {
        'content-type': 'application/json',
        'request-id': requestId,
        ...(key === null ? {} : { 'idempotency-key': key }),
        ...(replayed ? { 'idempotent-replayed': 'true' } : {}),
      });
      res.end(JSON.stringify(answer.body));
    };
    if (!/^Bearer sk_test_/.test(req.headers.authorization ?? '')) {
      send({ status: 401, body: { error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' } } });
      return;
    }
    if (req.method === 'GET') {
      send(read(state, url.pathname, parseStripeForm(url.search.slice(1))));
      return;
    }
    const route = postRoute(url.pathname);
    if (req.method !== 'POST' || route === undefined) {
      send(invalidRequest(`Unrecognized request URL (${req.method}: ${url.pathname}).`));
      return;
    }
    const header = req.headers['idempotency-key'];
    const key = typeof header === 'string' ? header : null;
    const fingerprint = [...new URLSearchParams(body)]
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join('&');
    const prior = key === null ? undefined : saved.get(key);
    if (prior !== undefined) {
      if (prior.route !== `${route.endpoint}:${route.id ?? ''}` || prior.fingerprint !== fingerprint) {
        send({
          status: 400,
          body: {
            error: {
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            },
          },
        });
      } else if (dropReplay.delete(key as string)) res.socket?.destroy();
      else send(prior.answer, true, key);
      return;
    }
    const fault = faults.get(route.endpoint)?.shift();
    if (fault === 'rateLimit') {
      send({
        status: 429,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'rate_limit',
            message: 'Too many requests hit the API too quickly.',
          },
        },
      });
      return;
    }
    if (fault === 'apiError') {
      send({ status: 500, body: { error: { type: 'api_error', message: 'An unknown error occurred (injected).' } } });
      return;
    }
    if (fault === 'stall') return;
    const ctx: StripeRequestContext = { requestId, idempotencyKey: key };
    const answer = execute(state, route, parseStripeForm(body), ctx);
    // Stripe keeps the answer of a request its endpoint executed (a success or a decline), not of one it refused.
    const kept = answer.status < 300 || answer.status === 402;
    if (kept) executed.set(route.endpoint, (executed.get(route.endpoint) ?? 0) + 1);
    if (kept && key !== null) saved.set(key, { route: `${route.endpoint}:${route.id ?? ''}`, fingerprint, answer });
    if (fault === 'dropTwiceAfterApply' && key !== null) dropReplay.add(key);
    if (fault === 'dropAfterApply' || fault === 'dropTwiceAfterApply') res.socket?.destroy();
    else if (fault !== 'stallAfterApply') send(answer, false, key);
  };

  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    url: `http://127.0.0.1:${port}`,
    clientConfig: { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0 },
    injectFault(endpoint, fault, times = 1) {
      const queue = faults.get(endpoint) ?? [];
      for (let i = 0; i < times; i++) queue.push(fault);
      faults.set(endpoint, queue);
    },
    clearFaults() {
      faults.clear();
      dropReplay.clear();
    },
    events: () => [...state.events],
    setWebhookEndpoint: (endpoint) => webhooks.setEndpoint(endpoint),
    injectWebhookFault: (fault, o = {}) => webhooks.injectFault(fault, o.times ?? 1, o.type),
    releaseHeldWebhooks: (order = 'raised') => webhooks.releaseHeld(order),
    redeliverWebhook(eventId) {
      const event = state.events.find((e) => e.id === eventId);
      if (event === undefined) return Promise.reject(new Error(`Stripe test server: no event ${eventId}.`));
      return webhooks.redeliver(event);
    },
    webhookDeliveries: () => webhooks.deliveries(),
    webhooksSettled: () => webhooks.settled(),
    completeThreeDSecure: (id, outcome) => state.completeThreeDSecure(id, outcome),
    executed: (endpoint) => executed.get(endpoint) ?? 0,
    state,
    close: () =>
      new Promise<void>((resolve, reject) => {
        webhooks.stop();
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}

interface PostRoute {
  readonly endpoint: StripeTestEndpoint;
  readonly id?: string;
}

function postRoute(path: string): PostRoute | undefined {
  if (path === '/v1/payment_intents') return { endpoint: 'payment_intents.create' };
  if (path === '/v1/refunds') return { endpoint: 'refunds.create' };
  if (path === '/v1/transfers') return { endpoint: 'transfers.create' };
  const m = /^\/v1\/payment_intents\/([^/]+)\/(confirm|capture|cancel)$/.exec(path);
  if (m === null) return undefined;
  return { endpoint: `payment_intents.${m[2] as 'confirm' | 'capture' | 'cancel'}`, id: m[1] as string };
}

function execute(state: StripeTestState, route: PostRoute, p: StripeParams, ctx: StripeRequestContext): StripeAnswer {
  const id = route.id as string;
  switch (route.endpoint) {
    case 'payment_intents.create':
      return state.createIntent(p, ctx);
    case 'payment_intents.confirm':
      return state.confirmIntent(id, p, ctx);
    case 'payment_intents.capture':
      return state.captureIntent(id, p, ctx);
    case 'payment_intents.cancel':
      return state.cancelIntent(id, p, ctx);
    case 'refunds.create':
      return state.createRefund(p, ctx);
    case 'transfers.create':
      return state.createTransfer(p, ctx);
  }
}

function read(state: StripeTestState, path: string, q: StripeParams): StripeAnswer {
  if (path === '/v1/payment_intents/search') return searchAnswer(path, state.intents.values(), q);
  const one = /^\/v1\/(payment_intents|refunds|transfers|events)\/([^/]+)$/.exec(path);
  if (one !== null) {
    const [, kind, id] = one as unknown as [string, string, string];
    const found =
      kind === 'payment_intents'
        ? state.intents.get(id)
        : kind === 'refunds'
          ? state.refunds.get(id)
          : kind === 'transfers'
            ? state.transfers.get(id)
            : state.events.find((e) => e.id === id);
    return found === undefined ? noSuch(kind.replace(/s$/, ''), id) : { status: 200, body: structuredClone(found) };
  }
  const eq = (name: string, value: string | null) => typeof q[name] !== 'string' || q[name] === value;
  switch (path) {
    case '/v1/payment_intents':
      return state.list(path, state.intents.values(), q);
    case '/v1/refunds':
      return state.list(path, state.refunds.values(), q, (r) => eq('payment_intent', r.payment_intent));
    case '/v1/transfers':
      return state.list(
        path,
        state.transfers.values(),
        q,
        (t) => eq('transfer_group', t.transfer_group) && eq('destination', t.destination),
      );
    case '/v1/events':
      return state.list(path, state.events, q, (e) => eq('type', e.type));
    default:
      return invalidRequest(`Unrecognized request URL (GET: ${path}).`);
  }
}
