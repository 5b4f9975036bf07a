import { createGunzip, createInflate } from 'node:zlib';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export const TRACES_ROUTE = '/v1/traces';
export const PROTOBUF_TYPES = ['application/x-protobuf', 'application/protobuf'];

const httpError = (statusCode: number, message: string): Error =>
  Object.assign(new Error(message), { statusCode });

const onTracesRoute = (request: FastifyRequest): boolean => request.routeOptions.url === TRACES_ROUTE;

/**
 * What OTLP/HTTP bodies need of Fastify, for POST /v1/traces only: protobuf bodies handed over as bytes (any other
 * route keeps answering them 415), and compressed bodies (Content-Encoding gzip, or deflate, which OpenTelemetry's
 * Python exporter offers) inflated before they are parsed, the body limit (MAX_BODY_BYTES) applying to the inflated
 * bytes too. Another Content-Encoding is 415.
 */
@Injectable()
export class OtlpBodyParsing implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addContentTypeParser(PROTOBUF_TYPES, { parseAs: 'buffer' }, (request, body, done) => {
      if (!onTracesRoute(request))
        done(httpError(415, `Unsupported Media Type: ${request.headers['content-type']}`));
      else done(null, body);
    });
    fastify.addHook('preParsing', async (request, _reply, payload) => {
      if (!onTracesRoute(request)) return payload;
      const encoding = String(request.headers['content-encoding'] ?? 'identity')
        .trim()
        .toLowerCase();
      if (encoding === 'identity' || encoding === '') return payload;
      if (encoding !== 'gzip' && encoding !== 'deflate')
        throw httpError(
          415,
          `Content-Encoding ${encoding.slice(0, 32)} is not supported; use gzip or deflate`,
        );
      const inflated = encoding === 'gzip' ? createGunzip() : createInflate();
      payload.on('error', (err) => inflated.destroy(err));
      inflated.on('error', (err) =>
        Object.assign(err, { statusCode: (err as { statusCode?: number }).statusCode ?? 400 }),
      );
      // Fastify checks Content-Length against the bytes received, which are the compressed ones
      const length = Number(request.headers['content-length']);
      if (Number.isFinite(length)) Object.assign(inflated, { receivedEncodedLength: length });
      return payload.pipe(inflated);
    });
  }
}
