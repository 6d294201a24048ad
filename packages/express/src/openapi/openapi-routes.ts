import type { Request, Response } from 'express';
import { API_REFERENCE_CSP, API_REFERENCE_HTML } from './api-reference-page.js';
import { type OpenApiDocument, openApiDocument } from './openapi-document.js';

let cached: OpenApiDocument | undefined;

/** `GET /v1/openapi.json`: the document, with `servers` set to where the router is mounted. No authentication. */
export function serveOpenApi(req: Request, res: Response): void {
  cached ??= openApiDocument();
  res.status(200).json({ ...cached, servers: [{ url: req.baseUrl === '' ? '/' : req.baseUrl }] });
}

/** `GET /v1/docs`: the API reference page. No authentication. */
export function serveApiReference(_req: Request, res: Response): void {
  res.setHeader('Content-Security-Policy', API_REFERENCE_CSP);
  res.status(200).type('text/html').send(API_REFERENCE_HTML);
}
