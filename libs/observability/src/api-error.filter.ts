import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { JsonLogger } from './logger';

export interface ApiErrorBody {
  error: { code: string; message: string; details: unknown };
}

const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'too_many_requests',
  503: 'unavailable',
};

/** SQLSTATEs of input PostgreSQL refuses as text or as a value: invalid byte sequence (NUL), untranslatable character,
 * invalid text representation. */
const TENANT_INPUT_SQLSTATES = new Set(['22021', '22P05', '22P02']);

/** Every error answers `{"error": {"code", "message", "details"}}` with its precise status. */
export function toApiError(status: number, body: unknown, fallbackMessage: string): ApiErrorBody {
  if (
    body &&
    typeof body === 'object' &&
    'error' in body &&
    typeof (body as ApiErrorBody).error === 'object'
  ) {
    return body as ApiErrorBody;
  }
  const message =
    body && typeof body === 'object' && 'message' in body
      ? [(body as { message: unknown }).message].flat().join('; ')
      : typeof body === 'string'
        ? body
        : fallbackMessage;
  return { error: { code: CODES[status] ?? (status >= 500 ? 'internal' : 'error'), message, details: null } };
}

@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: JsonLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const headers = (exception as HttpException & { headers?: Record<string, string> }).headers ?? {};
      void reply
        .headers(headers)
        .code(status)
        .send(toApiError(status, exception.getResponse(), exception.message));
      return;
    }
    const fastifyError = exception as { statusCode?: number; message?: string };
    if (fastifyError?.statusCode && fastifyError.statusCode < 500) {
      void reply
        .code(fastifyError.statusCode)
        .send(toApiError(fastifyError.statusCode, null, fastifyError.message ?? 'bad request'));
      return;
    }
    const sqlState = (exception as { code?: unknown })?.code;
    if (typeof sqlState === 'string' && TENANT_INPUT_SQLSTATES.has(sqlState)) {
      // a parameter PostgreSQL cannot take as text or as the type asked (a NUL, a malformed number): the caller's
      // input, whatever route let it through
      void reply.code(400).send({
        error: {
          code: 'bad_request',
          message: `a parameter cannot be used: ${(exception as Error).message}`,
          details: null,
        },
      });
      return;
    }
    if (sqlState === '57014') {
      // statement_timeout (DB_STATEMENT_TIMEOUT_S): PostgreSQL cancelled the query, and the backend is free again
      void reply.code(503).send({
        error: {
          code: 'query_timeout',
          message: 'the query took too long and was cancelled: ask for a shorter range or fewer rows',
          details: null,
        },
      });
      return;
    }
    this.logger.error('unhandled error', { err: exception });
    void reply.code(500).send(toApiError(500, null, 'internal error'));
  }
}
