import 'reflect-metadata';
import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { ApiErrorFilter } from './api-error.filter';
import { documentErrors } from './error-responses';
import { Health } from './health';
import { JsonLogger } from './logger';
import { answerMethodNotAllowed } from './method-not-allowed';
import { Metrics } from './metrics';

const DEFAULT_BODY_LIMIT = 1024 * 1024;
/**
 * Longest path parameter Fastify routes, in UTF-16 code units once decoded: above any a route takes (a team or an
 * agent_id of 128 characters, astral ones two units each), so that the handler says what is wrong with a long one (400)
 * and Fastify's default of 100 does not answer 414 for a name the api accepts.
 */
const MAX_PARAM_LENGTH = 512;

/** A service's HTTP application: what createServiceApp builds. */
export interface ServiceAppOptions {
  service: string;
  module: Type<unknown>;
  /** Largest accepted request body in bytes. */
  bodyLimit?: number;
  /**
   * Serve an OpenAPI document generated from the controllers at /openapi.json and a UI at /docs. `schemas` join
   * components/schemas, for operations that refer to them (the schemas a service validates its bodies with). Every
   * operation documents the errors the shared mechanics answer (documentErrors).
   */
  openapi?: {
    title: string;
    description: string;
    version?: string;
    bearerAuth?: boolean;
    schemas?: Readonly<Record<string, object>>;
    /** Last touches to the generated document that depend on configuration (e.g. the currencies configured). */
    complete?: (document: OpenAPIObject) => void;
  };
}

export interface BootstrapOptions extends ServiceAppOptions {
  port: number;
  host?: string;
  shutdownTimeoutMs?: number;
}

installWarningFilter();

/**
 * Starts one service process: Nest on Fastify, JSON logs, /healthz (alive), /readyz (every dependency check passes),
 * /metrics (Prometheus), and a graceful SIGTERM/SIGINT shutdown that lets consumers finish and commit their in-flight
 * batch (their onModuleDestroy) before the process exits.
 */
export async function bootstrapService(options: BootstrapOptions): Promise<NestFastifyApplication> {
  const app = await createServiceApp(options);
  const logger = app.get(JsonLogger);
  const health = app.get(Health);
  const timeoutMs = options.shutdownTimeoutMs ?? Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 15000);
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    health.markShuttingDown();
    logger.info('shutting down', { signal });
    const force = setTimeout(() => {
      logger.error('shutdown timed out; exiting', { timeout_ms: timeoutMs });
      process.exit(1);
    }, timeoutMs);
    force.unref();
    app
      .close()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => logger.error('unhandled rejection', { err: reason }));

  await app.listen(options.port, options.host ?? '0.0.0.0');
  logger.info('listening', { port: options.port });
  return app;
}

/**
 * The service's Nest application on Fastify, routes and OpenAPI document included, not yet initialised or listening:
 * what bootstrapService starts, and what a spec drives in-process (init(), then Fastify's inject()).
 */
export async function createServiceApp(options: ServiceAppOptions): Promise<NestFastifyApplication> {
  const bootLogger = new JsonLogger({ service: options.service });
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  // X-Forwarded-For is believed only from a proxy on a loopback, link-local or private address (an ingress in the
  // cluster), never from a client on the internet, who could name any address and dodge the per-address limits.
  // TRUST_PROXY overrides it (addresses, CIDRs or proxy-addr's names; "false" to believe none).
  const trustProxy = process.env.TRUST_PROXY ?? 'loopback,linklocal,uniquelocal';
  const adapter = new FastifyAdapter({
    bodyLimit,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    trustProxy: trustProxy === 'false' ? false : trustProxy,
  });
  const app = await NestFactory.create<NestFastifyApplication>(options.module, adapter, {
    logger: bootLogger,
    abortOnError: false,
  });
  const logger = app.get(JsonLogger);
  const metrics = app.get(Metrics);
  const health = app.get(Health);
  const fastify = app.getHttpAdapter().getInstance();
  app.useGlobalFilters(new ApiErrorFilter(logger));
  answerMethodNotAllowed(fastify);
  // Every body is JSON: Fastify's text/plain parser would only hand the handlers a string they refuse (400), so any
  // other Content-Type is 415.
  fastify.removeContentTypeParser('text/plain');
  // Every query parameter takes one value (as the OpenAPI documents say): one given twice (`?to=a&to=b`, which Fastify
  // hands over as an array) is a 400 naming it, before any handler reads a string that is not one.
  fastify.addHook('preValidation', (request, reply, done) => {
    const query = request.query as Record<string, unknown> | undefined;
    const repeated = query && Object.keys(query).find((k) => Array.isArray(query[k]));
    if (repeated === undefined) return done();
    void reply.code(400).send({
      error: {
        code: 'bad_request',
        message: `${repeated.slice(0, 64)} is given more than once; it takes one value`,
        details: { parameter: repeated.slice(0, 64) },
      },
    });
  });

  const httpDuration = metrics.histogram(
    'burnrate_http_request_duration_seconds',
    'HTTP request latency by route and status',
    ['method', 'route', 'status'] as const,
  );
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions?.url ?? 'unmatched';
    if (route !== '/metrics' && route !== '/healthz' && route !== '/readyz') {
      httpDuration.observe(
        { method: request.method, route, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    }
    done();
  });
  const readyGauge = metrics.gauge('burnrate_ready', '1 when every dependency of the service is ready');
  fastify.get('/healthz', async (_request, reply) => {
    const report = health.liveness();
    return reply
      .code(report.alive ? 200 : 503)
      .send(report.alive ? { status: 'ok' } : { status: 'failing', problems: report.problems });
  });
  fastify.get('/readyz', async (_request, reply) => {
    const report = await health.readiness();
    readyGauge.set(report.ready ? 1 : 0);
    return reply
      .code(report.ready ? 200 : 503)
      .send({ status: report.ready ? 'ready' : 'not ready', checks: report.checks });
  });
  fastify.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(body);
  });

  if (options.openapi) {
    const builder = new DocumentBuilder()
      .setTitle(options.openapi.title)
      .setDescription(options.openapi.description)
      .setVersion(options.openapi.version ?? '1');
    if (options.openapi.bearerAuth)
      builder.addBearerAuth({ type: 'http', scheme: 'bearer', description: 'burnrate API key' });
    const config = builder.build();
    if (options.openapi.schemas)
      config.components = {
        ...config.components,
        schemas: { ...config.components?.schemas, ...options.openapi.schemas },
      };
    const document = SwaggerModule.createDocument(app, config);
    documentErrors(document, { bodyLimit });
    options.openapi.complete?.(document);
    fastify.get('/openapi.json', async () => document);
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi-ui.json' });
  }

  return app;
}

/** kafkajs on Node 24 emits a harmless TimeoutNegativeWarning from its request queue; everything else is logged. */
function installWarningFilter(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'TimeoutNegativeWarning') return;
    process.stderr.write(
      JSON.stringify({
        level: 'warn',
        time: new Date().toISOString(),
        msg: warning.message,
        name: warning.name,
      }) + '\n',
    );
  });
}

/** For main.ts: run the start-up, and exit non-zero with one fatal log line if it fails. */
export function runMain(name: string, start: () => Promise<unknown>): void {
  start().catch((err: unknown) => {
    new JsonLogger({ service: name }).fatal('failed to start', { err });
    process.exit(1);
  });
}
