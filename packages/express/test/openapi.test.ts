import { createHash } from 'node:crypto';
import { createMarketplace, HTTP_STATUS_BY_CODE, type Marketplace } from '@marketkit/core';
import { jwtAuthenticator, marketkitRouter, openApiDocument } from '@marketkit/express';
import { SandboxPaymentProvider, type TestDatabase, testBackends } from '@marketkit/testing';
import Ajv2020 from 'ajv/dist/2020.js';
import express, { type Router } from 'express';
import { SignJWT } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const auth = { secret: SECRET, issuer: 'test-shop', audience: 'test-api' } as const;

type Json = Record<string, unknown>;
type Doc = ReturnType<typeof openApiDocument>;
interface Operation {
  readonly method: string;
  readonly path: string;
  readonly op: Json;
}

async function token(sub: string, role: string): Promise<string> {
  return new SignJWT({ sub, role })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));
}

function operations(doc: Doc): Operation[] {
  return Object.entries(doc['paths'] as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ method, path, op })),
  );
}

/** `GET /v1/orders/{id}` for every route the Express router mounts (its own stack, Express 5's `route` layers). */
function mountedRoutes(router: Router): string[] {
  const out: string[] = [];
  for (const layer of router.stack as unknown as { route?: { path: unknown; methods: Record<string, boolean> } }[]) {
    if (layer.route === undefined) continue;
    const path = String(layer.route.path).replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    for (const [method, on] of Object.entries(layer.route.methods))
      if (on && method !== '_all') out.push(`${method.toUpperCase()} ${path}`);
  }
  return out.sort();
}

const documentedRoutes = (doc: Doc) =>
  operations(doc)
    .map((o) => `${o.method.toUpperCase()} ${o.path}`)
    .sort();

/** Routes the router mounts that the document does not describe, and the reverse. */
function coverageGaps(router: Router, doc: Doc): { undocumented: string[]; notMounted: string[] } {
  const mounted = mountedRoutes(router);
  const documented = documentedRoutes(doc);
  return {
    undocumented: mounted.filter((r) => !documented.includes(r)),
    notMounted: documented.filter((r) => !mounted.includes(r)),
  };
}

const BASE = 'https://marketkit.test/openapi.json';

/** A JSON Schema 2020-12 validator over the document's components: `validate('Order', value)` lists the errors. */
function validatorFor(doc: Doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: BASE, components: doc['components'] });
  const resolve = (o: Json): Json => {
    const ref = o['$ref'];
    if (typeof ref !== 'string') return o;
    return ref
      .slice(2)
      .split('/')
      .reduce<Json>((a, k) => a[k] as Json, doc as unknown as Json);
  };
  const validate = (schema: Json, value: unknown): string[] => {
    const ref = schema['$ref'];
    const check = typeof ref === 'string' ? ajv.getSchema(`${BASE}${ref}`) : ajv.compile(schema);
    if (check === undefined) return [`no schema ${String(ref)}`];
    return check(value) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  };
  return { validate, resolve };
}

/** Every documented example (request bodies, parameters, answers) that does not validate against its schema. */
function invalidExamples(doc: Doc): string[] {
  const { validate, resolve } = validatorFor(doc);
  const failures: string[] = [];
  const check = (where: string, schema: Json, example: unknown) => {
    for (const e of validate(schema, example)) failures.push(`${where}: ${e}`);
  };
  for (const { method, path, op } of operations(doc)) {
    const at = `${method.toUpperCase()} ${path}`;
    for (const p of (op['parameters'] as Json[] | undefined) ?? []) {
      const param = resolve(p);
      check(`${at} parameter ${String(param['name'])}`, param['schema'] as Json, param['example']);
    }
    const body = (op['requestBody'] as { content: Record<string, Json> } | undefined)?.content['application/json'];
    if (body !== undefined) check(`${at} request`, body['schema'] as Json, body['example']);
    for (const [status, res] of Object.entries(op['responses'] as Record<string, { content?: Record<string, Json> }>)) {
      for (const [type, media] of Object.entries(res.content ?? {})) {
        if ('example' in media) check(`${at} ${status} ${type}`, media['schema'] as Json, media['example']);
      }
    }
  }
  return failures;
}

describe('openApiDocument', () => {
  const doc = openApiDocument({ serverUrl: 'https://shop.example/market' });

  it('is OpenAPI 3.1 with the bearer JWT scheme and the server it was given', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc['servers']).toEqual([{ url: 'https://shop.example/market' }]);
    expect((doc['components'] as Json)['securitySchemes']).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    });
  });

  it('gives every operation a unique id, a request example where it takes a body, and an answer example', () => {
    const ids = operations(doc).map((o) => o.op['operationId']);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { method, path, op } of operations(doc)) {
      const body = (op['requestBody'] as { content: Record<string, Json> } | undefined)?.content['application/json'];
      if (body !== undefined) expect(body, `${method} ${path}`).toHaveProperty('example');
      const [status, success] =
        Object.entries(op['responses'] as Record<string, { content: Record<string, Json> }>)[0] ?? [];
      expect(Number(status), `${method} ${path}`).toBeLessThan(300);
      const json = success?.content['application/json'];
      if (json !== undefined && path !== '/v1/openapi.json')
        expect(json, `${method} ${path}`).toHaveProperty('example');
    }
  });

  it('validates every documented example against its schema (JSON Schema 2020-12)', () => {
    expect(invalidExamples(doc)).toEqual([]);
  });

  it('checks its options', () => {
    expect(() => openApiDocument({ serverUrl: '' })).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => openApiDocument({ servers: '/' } as never)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
  });

  it('reports an example that does not validate', () => {
    const broken = structuredClone(doc) as Doc;
    const paths = broken['paths'] as Record<string, Record<string, Json>>;
    const checkout = paths['/v1/checkouts']?.['post'] as { requestBody: { content: Record<string, Json> } };
    (checkout.requestBody.content['application/json'] as Json)['example'] = { listingId: 'l', quantity: '1' };
    const failures = invalidExamples(broken);
    expect(failures.some((f) => f.startsWith('POST /v1/checkouts request'))).toBe(true);
  });

  it('documents each problem answer with its codes, at the status HTTP_STATUS_BY_CODE gives them', () => {
    const special: Record<string, number[]> = {
      VALIDATION_FAILED: [413, 415, 428],
      CONCURRENCY_CONFLICT: [412],
    };
    for (const { method, path, op } of operations(doc)) {
      for (const [status, res] of Object.entries(
        op['responses'] as Record<string, { content?: Record<string, Json> }>,
      )) {
        if (Number(status) < 400) continue;
        const example = res.content?.['application/problem+json']?.['example'] as {
          code: keyof typeof HTTP_STATUS_BY_CODE;
          status: number;
        };
        expect(example.status, `${method} ${path} ${status}`).toBe(Number(status));
        const allowed = [HTTP_STATUS_BY_CODE[example.code], ...(special[example.code] ?? [])];
        expect(allowed, `${method} ${path} ${status} ${example.code}`).toContain(Number(status));
      }
    }
    const checkout = (doc['paths'] as Record<string, Record<string, Json>>)['/v1/checkouts']?.['post'];
    expect(Object.keys(checkout?.['responses'] as Json)).toEqual(
      expect.arrayContaining(['201', '400', '401', '402', '403', '404', '409', '413', '422', '500', '503']),
    );
  });
});

for (const backend of testBackends()) {
  describe(`OpenAPI over HTTP on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    let app: express.Express;
    const tokens: Record<string, string> = {};
    const as = (who: string) => ({ Authorization: `Bearer ${tokens[who] ?? ''}` });
    const doc = openApiDocument({ serverUrl: '/api' });
    const { validate } = validatorFor(doc);

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), payments: new SandboxPaymentProvider() });
      await market.migrate();
      app = express();
      app.use('/api', marketkitRouter(market, { authenticate: jwtAuthenticator(auth) }));
      tokens['buyer'] = await token('alice', 'buyer');
      tokens['seller'] = await token('bob', 'seller');
      tokens['operator'] = await token('ops-1', 'operator');
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    it('documents every route the router mounts, and mounts every documented route', () => {
      // Every optional route mounted: the provider webhooks are mounted only when a handler is given.
      const stripe = {
        provider: 'stripe',
        handleProviderWebhook: () => Promise.reject(new Error('not called')),
      };
      const router = marketkitRouter(market, { authenticate: () => undefined, providerWebhooks: { stripe } });
      expect(coverageGaps(router, doc)).toEqual({ undocumented: [], notMounted: [] });
    });

    it('reports a route the document does not describe', () => {
      const router = marketkitRouter(market, { authenticate: () => undefined });
      router.delete('/v1/listings/:id', (_req, res) => {
        res.end();
      });
      expect(coverageGaps(router, doc).undocumented).toEqual(['DELETE /v1/listings/{id}']);
    });

    it('serves /v1/openapi.json without authentication, with servers set to the mount path', async () => {
      const res = await request(app).get('/api/v1/openapi.json');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual(doc);
    });

    it('serves /v1/docs: an HTML page whose CSP allows exactly its inline script', async () => {
      const res = await request(app).get('/api/v1/docs');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      const script = /<script>([\s\S]*)<\/script>/.exec(res.text)?.[1] ?? '';
      expect(script).toContain('/openapi.json');
      expect(script).not.toMatch(/https?:\/\//);
      expect(() => new Function(script)).not.toThrow();
      const hash = createHash('sha256').update(script).digest('base64');
      expect(res.headers['content-security-policy']).toContain(`script-src 'sha256-${hash}'`);
      expect(res.headers['content-security-policy']).toContain("connect-src 'self'");
    });

    /** The documented answer for the status the server gave, and the errors of validating the body against it. */
    function conformance(method: string, path: string, res: request.Response): string[] {
      const op = (doc['paths'] as Record<string, Record<string, Json>>)[path]?.[method];
      const answer = (op?.['responses'] as Record<string, { content?: Record<string, Json> }> | undefined)?.[
        String(res.status)
      ];
      if (answer === undefined) return [`${method} ${path}: status ${res.status} is not documented`];
      const type = String(res.headers['content-type']).split(';')[0] ?? '';
      const media = answer.content?.[type];
      if (media === undefined) return [`${method} ${path} ${res.status}: ${type} is not documented`];
      return validate(media['schema'] as Json, res.body).map((e) => `${method} ${path} ${res.status}: ${e}`);
    }

    const example = (path: string, method: string): Json => {
      const op = (doc['paths'] as Record<string, Record<string, Json>>)[path]?.[method] ?? {};
      const body = (op['requestBody'] as { content: Record<string, Json> }).content['application/json'];
      return structuredClone(body?.['example']) as Json;
    };

    it('refuses a body that breaks a value rule in the document and in the router, at the same path', async () => {
      const cases: readonly {
        readonly path: string;
        readonly method: 'post' | 'patch';
        readonly url: string;
        readonly role: string;
        readonly headers?: Readonly<Record<string, string>>;
        readonly change: Json;
        readonly at: readonly string[];
      }[] = [
        {
          path: '/v1/listings',
          method: 'post',
          url: '/v1/listings',
          role: 'seller',
          change: { title: 'x'.repeat(301) },
          at: ['title'],
        },
        {
          path: '/v1/listings',
          method: 'post',
          url: '/v1/listings',
          role: 'seller',
          change: { id: 'a b' },
          at: ['id'],
        },
        {
          path: '/v1/listings',
          method: 'post',
          url: '/v1/listings',
          role: 'seller',
          change: { price: { amount: '100', currency: 'XXX' } },
          at: ['price', 'currency'],
        },
        {
          path: '/v1/listings/{id}',
          method: 'patch',
          url: '/v1/listings/nope',
          role: 'seller',
          headers: { 'If-Match': '"0"' },
          change: { quantity: -1 },
          at: ['quantity'],
        },
        {
          path: '/v1/checkouts',
          method: 'post',
          url: '/v1/checkouts',
          role: 'buyer',
          headers: { 'Idempotency-Key': 'vr-1' },
          change: { quantity: 0 },
          at: ['quantity'],
        },
        {
          path: '/v1/orders/{id}/transitions/{name}',
          method: 'post',
          url: '/v1/orders/nope/transitions/refund',
          role: 'operator',
          change: { buyerPercent: 101 },
          at: ['buyerPercent'],
        },
        {
          path: '/v1/payouts',
          method: 'post',
          url: '/v1/payouts',
          role: 'seller',
          headers: { 'Idempotency-Key': 'vr-2' },
          change: { currency: 'usd' },
          at: ['currency'],
        },
        {
          path: '/v1/payouts',
          method: 'post',
          url: '/v1/payouts',
          role: 'seller',
          headers: { 'Idempotency-Key': 'vr-3' },
          change: { amountMinor: '0' },
          at: ['amountMinor'],
        },
        {
          path: '/v1/operator/sagas/{id}/resolve',
          method: 'post',
          url: '/v1/operator/sagas/nope/resolve',
          role: 'operator',
          change: { note: '' },
          at: ['note'],
        },
      ];
      for (const c of cases) {
        const what = `${c.method.toUpperCase()} ${c.path} ${JSON.stringify(c.change).slice(0, 60)}`;
        const op = (doc['paths'] as Record<string, Record<string, Json>>)[c.path]?.[c.method] ?? {};
        const schema = (op['requestBody'] as { content: Record<string, Json> }).content['application/json']?.['schema'];
        const good = example(c.path, c.method);
        expect(validate(schema as Json, good), what).toEqual([]);
        const bad = { ...good, ...c.change };
        const documented = validate(schema as Json, bad).map((e) => e.split(' ')[0]?.split('/').slice(1));
        expect(documented.length, what).toBeGreaterThan(0);
        for (const path of documented) expect(path, what).toEqual(c.at);
        const res = await request(app)
          [c.method](`/api${c.url}`)
          .set(as(c.role))
          .set(c.headers ?? {})
          .send(bad);
        expect(res.status, what).toBe(400);
        expect(res.body.code, what).toBe('VALIDATION_FAILED');
        const issues = res.body.details.issues as { path: string[] }[];
        expect(issues.length, what).toBeGreaterThan(0);
        for (const issue of issues) expect(issue.path, what).toEqual(c.at);
      }
    });

    it('answers the documented request examples with bodies that match the documented answers', async () => {
      const gaps: string[] = [];
      const created = await request(app)
        .post('/api/v1/listings')
        .set(as('seller'))
        .send(example('/v1/listings', 'post'));
      expect(created.status).toBe(201);
      gaps.push(...conformance('post', '/v1/listings', created));
      const listingId = created.body.id as string;

      gaps.push(
        ...conformance(
          'get',
          '/v1/listings/{id}',
          await request(app).get(`/api/v1/listings/${listingId}`).set(as('buyer')),
        ),
      );
      const edited = await request(app)
        .patch(`/api/v1/listings/${listingId}`)
        .set(as('seller'))
        .set('If-Match', String(created.headers['etag']))
        .send(example('/v1/listings/{id}', 'patch'));
      expect(edited.status).toBe(200);
      gaps.push(...conformance('patch', '/v1/listings/{id}', edited));

      const order = await request(app)
        .post('/api/v1/checkouts')
        .set(as('buyer'))
        .set('Idempotency-Key', 'oa-1')
        .send({ ...example('/v1/checkouts', 'post'), listingId });
      expect(order.status).toBe(201);
      gaps.push(...conformance('post', '/v1/checkouts', order));
      const orderId = order.body.id as string;
      gaps.push(
        ...conformance('get', '/v1/orders/{id}', await request(app).get(`/api/v1/orders/${orderId}`).set(as('buyer'))),
      );
      const shipped = await request(app)
        .post(`/api/v1/orders/${orderId}/transitions/ship`)
        .set(as('seller'))
        .send(example('/v1/orders/{id}/transitions/{name}', 'post'));
      expect(shipped.status).toBe(200);
      gaps.push(...conformance('post', '/v1/orders/{id}/transitions/{name}', shipped));
      await request(app).post(`/api/v1/orders/${orderId}/transitions/deliver`).set(as('seller')).send({});
      const history = await request(app).get(`/api/v1/orders/${orderId}/history`).set(as('buyer'));
      expect(history.body.events.length).toBeGreaterThan(1);
      gaps.push(...conformance('get', '/v1/orders/{id}/history', history));

      gaps.push(
        ...conformance(
          'get',
          '/v1/balances',
          await request(app).get('/api/v1/balances?currency=USD').set(as('seller')),
        ),
      );
      const payout = await request(app)
        .post('/api/v1/payouts')
        .set(as('seller'))
        .set('Idempotency-Key', 'oa-p1')
        .send(example('/v1/payouts', 'post'));
      gaps.push(...conformance('post', '/v1/payouts', payout));
      gaps.push(
        ...conformance(
          'get',
          '/v1/operator/sagas',
          await request(app).get('/api/v1/operator/sagas').set(as('operator')),
        ),
      );
      gaps.push(
        ...conformance(
          'post',
          '/v1/operator/sagas/{id}/retry',
          await request(app).post('/api/v1/operator/sagas/nope/retry').set(as('operator')),
        ),
      );
      gaps.push(
        ...conformance(
          'post',
          '/v1/operator/sagas/{id}/resolve',
          await request(app)
            .post('/api/v1/operator/sagas/nope/resolve')
            .set(as('operator'))
            .send(example('/v1/operator/sagas/{id}/resolve', 'post')),
        ),
      );
      // Problem answers conform too.
      gaps.push(
        ...conformance(
          'post',
          '/v1/checkouts',
          await request(app).post('/api/v1/checkouts').set(as('seller')).send({}),
        ),
      );
      gaps.push(...conformance('get', '/v1/orders/{id}', await request(app).get('/api/v1/orders/nope')));
      gaps.push(...conformance('get', '/healthz', await request(app).get('/api/healthz')));
      gaps.push(...conformance('get', '/readyz', await request(app).get('/api/readyz')));
      expect(gaps).toEqual([]);
    });
  });
}
