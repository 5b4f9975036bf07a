import type { FastifyInstance } from 'fastify';
import type { ApiErrorBody } from './api-error.filter';

interface Route {
  /** The pattern's segments: a literal, ':' for a parameter (any non-empty segment), '*' for the rest of the path. */
  segments: string[];
  methods: Set<string>;
}

/** The methods each route answers, by URL pattern as Fastify registers it ('/v1/teams/:team/settings', '/docs/*'). */
export class RouteMethods {
  private readonly routes = new Map<string, Route>();

  add(url: string, method: string | readonly string[]): void {
    let route = this.routes.get(url);
    if (!route) {
      const segments = url
        .split('/')
        .map((s) => (s === '*' ? '*' : s.includes(':') || s.includes('*') ? ':' : s));
      route = { segments, methods: new Set() };
      this.routes.set(url, route);
    }
    for (const m of typeof method === 'string' ? [method] : method) route.methods.add(m.toUpperCase());
    // Fastify answers HEAD wherever it answers GET
    if (route.methods.has('GET')) route.methods.add('HEAD');
  }

  /** The methods of every route `url`'s path matches (OPTIONS among them, when any), sorted; none for an unknown path. */
  allowed(url: string): string[] {
    const segments = url.split('?')[0].split('/');
    const methods = new Set<string>();
    for (const route of this.routes.values())
      if (matches(route.segments, segments)) for (const m of route.methods) methods.add(m);
    if (methods.size > 0) methods.add('OPTIONS');
    return [...methods].sort();
  }
}

function matches(pattern: string[], segments: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    if (i >= segments.length) return false;
    if (pattern[i] === '*') return true;
    if (pattern[i] === ':' ? segments[i] === '' : pattern[i] !== segments[i]) return false;
  }
  return pattern.length === segments.length;
}

/**
 * A request whose path a route answers, with a method none of them answers, is answered 405 Method Not Allowed with
 * Allow and the error body, not 404 (which stays for a path no route answers); OPTIONS on such a path answers 204
 * with Allow. Call before any route is registered: the methods are collected as routes are added.
 */
export function answerMethodNotAllowed(fastify: FastifyInstance): void {
  const routes = new RouteMethods();
  fastify.addHook('onRoute', (route) => routes.add(route.url, route.method));
  fastify.addHook('onRequest', async (request, reply) => {
    if (!request.is404) return;
    const allowed = routes.allowed(request.url);
    if (allowed.length === 0) return;
    void reply.header('allow', allowed.join(', '));
    if (request.method === 'OPTIONS') return reply.code(204).send();
    const body: ApiErrorBody = {
      error: {
        code: 'method_not_allowed',
        message: `${request.method} is not allowed here: this path answers ${allowed.join(', ')}`,
        details: { allowed },
      },
    };
    return reply.code(405).send(body);
  });
}
