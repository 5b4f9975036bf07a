import { applyDecorators } from '@nestjs/common';
import { ApiExtension, type OpenAPIObject, type ReferenceObject, type SchemaObject } from '@nestjs/swagger';

/** Where the error body's schema is published in each OpenAPI document (components/schemas). */
export const API_ERROR_SCHEMA_NAME = 'ApiError';

/** `{"error": {"code", "message", "details"}}` (ApiErrorBody): what every error answers, as OpenAPI publishes it. */
export const API_ERROR_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: {
        code: {
          type: 'string',
          description: 'Stable, for programs: bad_request, unauthenticated, forbidden, not_found, …',
        },
        message: { type: 'string', description: 'What went wrong, for people' },
        details: {
          description:
            'More of what went wrong, or null: the bad parameter ({"parameter": …}), every failing field ' +
            '([{"field", "message"}]), the limit hit, the methods allowed',
        },
      },
    },
  },
};

export const API_ERROR_REF: ReferenceObject = { $ref: `#/components/schemas/${API_ERROR_SCHEMA_NAME}` };

const RETRY_AFTER = {
  description: 'Seconds to wait before retrying',
  schema: { type: 'integer', minimum: 1 },
} as const;

/** The operation extension ApiErrors leaves for documentErrors, one per status (`x-error-404: description`). */
const ERROR_EXTENSION = /^x-error-(\d{3})$/;

/**
 * Error statuses an operation answers beyond those documentErrors gives every operation, each with what it means
 * there (`@ApiErrors({ 403: 'needs an admin key', 404: 'no such key' })`, on a handler or a whole controller).
 * They reach the document as extensions that documentErrors turns into responses: an @ApiResponse on a handler would
 * make Nest leave out the success response it documents by default.
 */
export const ApiErrors = (responses: Readonly<Record<number, string>>): MethodDecorator & ClassDecorator =>
  applyDecorators(
    ...Object.entries(responses).map(([status, description]) =>
      ApiExtension(`x-error-${status}`, description),
    ),
  );

export interface ErrorDocumentOptions {
  /** The largest request body in bytes (bootstrap's bodyLimit); a larger one is answered 413. */
  bodyLimit: number;
}

type Operation = {
  security?: unknown[];
  requestBody?: unknown;
  responses: Record<string, { description: string; content?: object; headers?: object }>;
  [extension: `x-${string}`]: unknown;
};

/**
 * Completes each operation's responses with what the shared mechanics answer it, so that no route has to repeat them:
 * 400 (a bad parameter or body, or a body that is not JSON) on every operation; 401, 429 and 503 on one that takes an
 * API key (ApiKeyGuard: no key or a bad one, over the rate limit, the key store unreachable); 413 and 415 on one that
 * takes a body. Every error response, these and those a route declares (ApiErrors), answers the ApiError body unless
 * it says otherwise, and 429 and 503 carry Retry-After.
 */
export function documentErrors(document: OpenAPIObject, options: ErrorDocumentOptions): void {
  document.components = {
    ...document.components,
    schemas: { ...document.components?.schemas, [API_ERROR_SCHEMA_NAME]: API_ERROR_SCHEMA },
  };
  const generic: [status: number, description: string, applies: (op: Operation) => boolean][] = [
    [400, 'A bad parameter or body: error.details names the parameter, or every failing field', () => true],
    [401, 'No API key, or one that is unknown or revoked', authenticated],
    [413, `The body is over ${options.bodyLimit} bytes`, hasBody],
    [415, 'The body is not application/json', hasBody],
    [
      429,
      'Over the rate limit (of the API key, or of failed attempts from the address): retry after Retry-After seconds',
      authenticated,
    ],
    [
      503,
      'A dependency (the API key store, the database, Kafka) is unavailable or too slow right now: retry later',
      authenticated,
    ],
  ];
  for (const item of Object.values(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const) {
      const operation = item[method] as Operation | undefined;
      if (!operation) continue;
      for (const [key, description] of Object.entries(operation)) {
        const status = ERROR_EXTENSION.exec(key)?.[1];
        if (status === undefined) continue;
        operation.responses[status] ??= { description: String(description) };
        delete operation[key as `x-${string}`];
      }
      for (const [status, description, applies] of generic)
        if (applies(operation)) operation.responses[status] ??= { description };
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!(Number(status) >= 400)) continue;
        response.content ??= { 'application/json': { schema: API_ERROR_REF } };
        if (status === '429' || status === '503')
          response.headers ??= { 'Retry-After': { ...RETRY_AFTER, required: status === '429' } };
      }
    }
  }
}

const authenticated = (operation: Operation): boolean => (operation.security?.length ?? 0) > 0;
const hasBody = (operation: Operation): boolean => operation.requestBody !== undefined;
