import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import { Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { CONFIG } from '@libs/config';
import { JsonLogger } from '@libs/observability';
import { consoleDir } from './console.config';

/**
 * The console's page allows only what its bundle does: its own script and styles, and calls to this origin with the
 * key it holds in sessionStorage. No inline script, no other origin, no framing.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>burnrate</title>
<p>The console is not built. Run <code>npm run build:console</code> (or <code>npm run build</code>) and reload.</p>`;

/**
 * Serves the console: its page at `/` and its bundle under `/assets/` (file names carry a content hash, so they are
 * cached for good; the page is revalidated each time). Everything it shows comes from /v1 with the same API keys.
 */
@Injectable()
export class ConsoleAssets implements OnModuleInit {
  constructor(
    private readonly host: HttpAdapterHost,
    @Inject(CONFIG) private readonly config: { CONSOLE_DIR?: string },
    private readonly logger: JsonLogger,
  ) {}

  onModuleInit(): void {
    const dir = consoleDir(this.config.CONSOLE_DIR);
    const fastify = this.host.httpAdapter.getInstance<FastifyInstance>();
    const built = existsSync(join(dir, 'index.html'));
    if (!built) this.logger.warn('the console is not built; / says how to build it', { console_dir: dir });
    const page = (reply: FastifyReply) => reply.headers(PAGE_HEADERS).header('cache-control', 'no-cache');
    if (built) {
      // Not awaited: awaiting would load the plugin (and every route queued so far) now, before Nest has set the
      // error handler those routes take; Fastify loads it with the rest when the application starts.
      void fastify.register(fastifyStatic, {
        root: join(dir, 'assets'),
        prefix: '/assets/',
        wildcard: true,
        index: false,
        list: false,
        dotfiles: 'deny',
        immutable: true,
        maxAge: '365d',
        setHeaders: (reply) => reply.header('x-content-type-options', 'nosniff'),
      });
    }
    fastify.get('/', (_request, reply) =>
      built
        ? page(reply).sendFile('index.html', dir, { cacheControl: false })
        : page(reply).code(503).type('text/html; charset=utf-8').send(NOT_BUILT),
    );
  }
}

@Module({ providers: [ConsoleAssets] })
export class ConsoleModule {}
