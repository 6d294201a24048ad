import { ERROR_CODES, type ErrorCode, HTTP_STATUS_BY_CODE, parseInput } from '@marketkit/core';
import { z } from 'zod';
import { problem } from '../problem.js';
import { OPERATIONS, type OperationSpec, type ResponseSchemaName } from './operations.js';
import {
  balanceJson,
  listingJson,
  moneyJson,
  orderEventJson,
  orderHistoryJson,
  orderJson,
  payoutDestinationJson,
  payoutJson,
  problemJson,
  readinessJson,
  sagaJson,
  sagaListJson,
  statusJson,
  webhookReceiptJson,
} from './response-schemas.js';

/** Options of {@link openApiDocument}. */
export interface OpenApiDocumentOptions {
  /** The URL the router is mounted at (`servers[0].url`), e.g. `https://shop.example/market`. Default `/`. */
  readonly serverUrl?: string;
  /** `info.title`. Default `Marketkit HTTP API`. */
  readonly title?: string;
  /** `info.version`. Default `1.0.0`. */
  readonly version?: string;
}

/** An OpenAPI 3.1 document, as plain JSON. */
export type OpenApiDocument = { readonly openapi: '3.1.0' } & Readonly<Record<string, unknown>>;

type Json = Record<string, unknown>;

const optionsSchema = z.strictObject({
  serverUrl: z.string().min(1).optional(),
  title: z.string().min(1).optional(),
  version: z.string().min(1).optional(),
});

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

/** Statuses every authenticated route may answer, besides its own codes. */
const SHARED_UNAVAILABLE: readonly ErrorCode[] = [
  'CONNECTION_LOST',
  'SERIALIZATION_FAILURE',
  'DEADLOCK_DETECTED',
  'LOCK_NOT_AVAILABLE',
  'OVERLOADED',
];

/** JSON Schemas of a registry of zod schemas, referring to each other through `#/components/schemas/`. */
function componentSchemas(schemas: Readonly<Record<string, z.ZodType>>, io: 'input' | 'output'): Json {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, {
    io,
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
  }).schemas;
  return Object.fromEntries(
    Object.entries(out).map(([id, { $schema: _schema, $id: _id, ...rest }]) => [id, rest as Json]),
  );
}

/** A lone schema (a query parameter), without `$schema`. */
function inlineSchema(schema: z.ZodType): Json {
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Json;
  return rest;
}

/** `/v1/orders/:id` in OpenAPI's notation: `/v1/orders/{id}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** Problem answers of one operation, by status: each lists its codes and shows the first as an example. */
function problemResponses(op: OperationSpec): Json {
  const byStatus = new Map<number, Set<ErrorCode>>();
  const add = (status: number, code: ErrorCode) => {
    const codes = byStatus.get(status) ?? new Set<ErrorCode>();
    codes.add(code);
    byStatus.set(status, codes);
  };
  for (const code of op.errors) add(HTTP_STATUS_BY_CODE[code], code);
  if (op.access !== 'public') {
    add(401, 'UNAUTHENTICATED');
    for (const code of SHARED_UNAVAILABLE) add(HTTP_STATUS_BY_CODE[code], code);
  }
  if (op.access !== 'public' || op.errors.length > 0) add(500, 'INTERNAL');
  if (op.body !== undefined) {
    add(400, 'VALIDATION_FAILED');
    add(413, 'VALIDATION_FAILED');
    add(415, 'VALIDATION_FAILED');
  }
  if (op.idempotencyKey === 'required') add(400, 'VALIDATION_FAILED');
  if (op.ifMatch === true) {
    add(400, 'VALIDATION_FAILED');
    add(412, 'CONCURRENCY_CONFLICT');
    add(428, 'VALIDATION_FAILED');
  }
  const responses: Json = {};
  for (const status of [...byStatus.keys()].sort((a, b) => a - b)) {
    const codes = [...(byStatus.get(status) ?? [])];
    const first = codes[0] ?? 'INTERNAL';
    const headers: Json = {};
    if (status === 401) headers['WWW-Authenticate'] = { $ref: '#/components/headers/WWW-Authenticate' };
    if (codes.some((c) => c === 'IDEMPOTENCY_CONFLICT' || c === 'OVERLOADED'))
      headers['Retry-After'] = { $ref: '#/components/headers/Retry-After' };
    responses[String(status)] = {
      description: `A problem document; \`code\` is one of ${codes.map((c) => `\`${c}\``).join(', ')}.`,
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      content: {
        'application/problem+json': {
          schema: ref('Problem'),
          example: problem(
            first,
            status === 401 ? 'Authentication is required.' : ERROR_CODES[first].message,
            {},
            status,
          ),
        },
      },
    };
  }
  return responses;
}

function operationObject(op: OperationSpec): Json {
  const parameters: Json[] = [];
  for (const [name, p] of Object.entries(op.pathParameters ?? {})) {
    parameters.push({
      name,
      in: 'path',
      required: true,
      description: p.description,
      schema: { type: 'string' },
      example: p.example,
    });
  }
  for (const q of op.query ?? []) {
    parameters.push({
      name: q.name,
      in: 'query',
      required: q.required,
      description: q.description,
      schema: inlineSchema(q.schema),
      example: q.example,
    });
  }
  for (const h of op.headers ?? []) {
    parameters.push({
      name: h.name,
      in: 'header',
      required: h.required,
      description: h.description,
      schema: { type: 'string' },
      example: h.example,
    });
  }
  if (op.idempotencyKey !== undefined) {
    parameters.push({
      $ref: `#/components/parameters/${op.idempotencyKey === 'required' ? 'IdempotencyKeyRequired' : 'IdempotencyKey'}`,
    });
  }
  if (op.ifMatch === true) parameters.push({ $ref: '#/components/parameters/IfMatch' });

  const { response } = op;
  const headers: Json = {};
  if (response.etag === true) headers['ETag'] = { $ref: '#/components/headers/ETag' };
  if (op.idempotencyKey !== undefined) {
    headers['Idempotent-Replayed'] = { $ref: '#/components/headers/Idempotent-Replayed' };
  }
  const content =
    response.schema === 'html'
      ? { 'text/html': { schema: { type: 'string' } } }
      : response.schema === 'event-stream'
        ? { 'text/event-stream': { schema: { type: 'string' } } }
        : response.schema === 'openapi'
          ? { 'application/json': { schema: { type: 'object' } } }
          : { 'application/json': { schema: ref(response.schema), example: response.example } };

  return {
    operationId: op.operationId,
    summary: op.summary,
    tags: [op.tag],
    ...(op.access === 'public'
      ? { security: [] }
      : {
          description:
            op.access === 'any' ? 'Any authenticated actor.' : `Only an actor with the role \`${op.access}\`.`,
        }),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(op.body === undefined
      ? {}
      : {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref(op.body.name), example: op.body.example } },
          },
        }),
    responses: {
      [String(response.status)]: {
        description: response.description,
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
        content,
      },
      ...problemResponses(op),
    },
  };
}

const RESPONSE_SCHEMAS: Readonly<Record<ResponseSchemaName | 'Money' | 'OrderEvent' | 'Problem', z.ZodType>> = {
  Money: moneyJson,
  Listing: listingJson,
  Order: orderJson,
  OrderEvent: orderEventJson,
  OrderHistory: orderHistoryJson,
  Payout: payoutJson,
  PayoutDestination: payoutDestinationJson,
  Balance: balanceJson,
  Saga: sagaJson,
  SagaList: sagaListJson,
  Status: statusJson,
  Readiness: readinessJson,
  WebhookReceipt: webhookReceiptJson,
  Problem: problemJson,
};

/**
 * Marketkit's HTTP API (the routes of {@link marketkitRouter}) as an OpenAPI 3.1 document. Request bodies are
 * generated from the router's zod schemas (core's input schemas, so with their value rules: lengths, ranges, id
 * patterns, currency codes) and answers from zod schemas of their JSON shape (`z.toJSONSchema`);
 * every operation lists its problem answers by status with their error codes (from `HTTP_STATUS_BY_CODE`), the
 * bearer-JWT security scheme, and the `Idempotency-Key` and `If-Match` headers. The router serves it at
 * `GET /v1/openapi.json` (with `servers` set to where it is mounted) and renders it at `GET /v1/docs`.
 * Throws `VALIDATION_FAILED` on an unknown option or an empty string.
 *
 * @example
 * ```ts
 * import { writeFile } from 'node:fs/promises';
 * await writeFile('openapi.json', JSON.stringify(openApiDocument({ serverUrl: 'https://shop.example/market' })));
 * ```
 */
export function openApiDocument(options: OpenApiDocumentOptions = {}): OpenApiDocument {
  parseInput(optionsSchema, options, 'openApiDocument options');
  const paths: Record<string, Json> = {};
  for (const op of OPERATIONS) {
    const path = openApiPath(op.path);
    paths[path] = { ...paths[path], [op.method]: operationObject(op) };
  }
  const requestSchemas = Object.fromEntries(
    OPERATIONS.flatMap((op) => (op.body === undefined ? [] : [[op.body.name, op.body.schema] as const])),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: options.title ?? 'Marketkit HTTP API',
      version: options.version ?? '1.0.0',
      description:
        'Errors are RFC 9457 problem documents (`application/problem+json`) with the stable Marketkit `code`. ' +
        'Amounts are minor units as integer strings.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: options.serverUrl ?? '/' }],
    security: [{ bearerAuth: [] }],
    tags: [...new Set(OPERATIONS.map((op) => op.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A JWT whose subject is the actor id and whose role claim is buyer, seller or operator.',
        },
      },
      schemas: { ...componentSchemas(requestSchemas, 'input'), ...componentSchemas(RESPONSE_SCHEMAS, 'output') },
      parameters: {
        IdempotencyKey: idempotencyKeyParameter(false),
        IdempotencyKeyRequired: idempotencyKeyParameter(true),
        IfMatch: {
          name: 'If-Match',
          in: 'header',
          required: true,
          description:
            'The listing’s `ETag` (or its bare version, `"3"`): the version the edit applies to (412 if it changed, 428 without).',
          schema: { type: 'string', pattern: '^\\s*(W/)?"(0|[1-9][0-9]{0,14})"\\s*$' },
          example: '"0"',
        },
      },
      headers: {
        ETag: {
          description:
            'The listing’s version and stock counters, e.g. `"3.1.0"` (version 3, 1 sold, 0 reserved): it changes when stock moves, and `If-Match` compares its version.',
          schema: { type: 'string' },
        },
        'Idempotent-Replayed': {
          description: '`true` when the answer is the stored answer of an earlier request with the same key.',
          schema: { type: 'string', enum: ['true'] },
        },
        'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } },
        'WWW-Authenticate': { description: '`Bearer`.', schema: { type: 'string' } },
      },
    },
  };
}

function idempotencyKeyParameter(required: boolean): Json {
  return {
    name: 'Idempotency-Key',
    in: 'header',
    required,
    description:
      'The same key with the same body answers the stored result (`Idempotent-Replayed: true`); with another body ' +
      '422 `IDEMPOTENCY_KEY_REUSED`; while the first request runs 409 `IDEMPOTENCY_CONFLICT` with `Retry-After`. ' +
      'Scoped per actor.' +
      (required ? ' Required: money moves (400 without it).' : ''),
    schema: { type: 'string', minLength: 1 },
    example: 'c0ffee00-7d1f-4f4e-9a51-2b1d8a6c1e01',
  };
}
