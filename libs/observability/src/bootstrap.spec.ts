// @fastify/static (the /docs UI) requires content-disposition, which is ES modules only and jest loads CommonJS
jest.mock('content-disposition', () => ({ create: () => 'attachment' }));

import { Body, Controller, Get, Module, Param, Post, Put } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiBody } from '@nestjs/swagger';
import { createServiceApp } from './bootstrap';
import { ServiceCoreModule } from './core.module';

@Controller('v1/things')
class ThingsController {
  @Get()
  list(): string[] {
    return [];
  }

  @Post()
  @ApiBody({ schema: { type: 'object' } })
  create(@Body() body: unknown): unknown {
    return body;
  }

  @Put(':id')
  @ApiBody({ schema: { type: 'object' } })
  replace(@Param('id') id: string): string {
    return id;
  }
}

@Module({
  imports: [ServiceCoreModule.forRoot({ service: 'test', config: {} })],
  controllers: [ThingsController],
})
class ThingsModule {}

describe(createServiceApp.name, () => {
  let app: NestFastifyApplication;
  const call = (method: string, url: string, headers: Record<string, string> = {}, payload?: string) =>
    app
      .getHttpAdapter()
      .getInstance()
      .inject({ method: method as 'GET', url, headers, payload });

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'fatal';
    app = await createServiceApp({
      service: 'test',
      module: ThingsModule,
      bodyLimit: 1024,
      openapi: { title: 'things', description: 'things' },
    });
    await app.init();
  });

  afterAll(async () => {
    await app.close();
  });

  it('answers a method a known path does not take 405, with Allow and the error body', async () => {
    const sutResult = await call('DELETE', '/v1/things');

    expect(sutResult.statusCode).toBe(405);
    expect(sutResult.headers.allow).toBe('GET, HEAD, OPTIONS, POST');
    expect(sutResult.json()).toEqual({
      error: {
        code: 'method_not_allowed',
        message: 'DELETE is not allowed here: this path answers GET, HEAD, OPTIONS, POST',
        details: { allowed: ['GET', 'HEAD', 'OPTIONS', 'POST'] },
      },
    });
    expect((await call('GET', '/v1/things/7')).headers.allow).toBe('OPTIONS, PUT');
    expect((await call('PATCH', '/healthz')).statusCode).toBe(405);
  });

  it('refuses a query parameter given twice with 400 naming it, before the handler reads it', async () => {
    const sutResult = await call('GET', '/v1/things?to=null&to=null');

    expect(sutResult.statusCode).toBe(400);
    expect(sutResult.json()).toEqual({
      error: {
        code: 'bad_request',
        message: 'to is given more than once; it takes one value',
        details: { parameter: 'to' },
      },
    });
    expect((await call('GET', '/v1/things?to=a&from=b')).statusCode).toBe(200);
  });

  it('answers an unknown path 404, whatever the method', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const sutResult = await call(method, '/v1/nothing');
      expect([sutResult.statusCode, sutResult.headers.allow]).toEqual([404, undefined]);
      expect(sutResult.json()).toMatchObject({ error: { code: 'not_found' } });
    }
    expect((await call('DELETE', '/v1/things/')).statusCode).toBe(404);
  });

  it('answers HEAD where GET is declared, and OPTIONS on a known path with 204 and Allow', async () => {
    expect((await call('HEAD', '/v1/things')).statusCode).toBe(200);
    const options = await call('OPTIONS', '/v1/things/7');
    expect([options.statusCode, options.headers.allow, options.body]).toEqual([204, 'OPTIONS, PUT', '']);
  });

  it('refuses a body that is not JSON with 415 and one over the body limit with 413, in the error shape', async () => {
    const text = await call('POST', '/v1/things', { 'content-type': 'text/plain' }, '{}');
    expect([text.statusCode, text.json().error.code]).toEqual([415, 'unsupported_media_type']);
    const big = await call(
      'POST',
      '/v1/things',
      { 'content-type': 'application/json' },
      `"${'x'.repeat(1100)}"`,
    );
    expect([big.statusCode, big.json().error.code]).toEqual([413, 'payload_too_large']);
    const ok = await call('POST', '/v1/things', { 'content-type': 'application/json' }, '{"a":1}');
    expect([ok.statusCode, ok.json()]).toEqual([201, { a: 1 }]);
  });

  it('documents the error body once and the errors of each operation, in /openapi.json', async () => {
    const doc = (await call('GET', '/openapi.json')).json();

    expect(doc.components.schemas.ApiError).toMatchObject({ required: ['error'] });
    expect(Object.keys(doc.paths['/v1/things'].get.responses)).toEqual(['200', '400']);
    expect(Object.keys(doc.paths['/v1/things'].post.responses)).toEqual(['201', '400', '413', '415']);
    expect(doc.paths['/v1/things'].post.responses['413'].description).toBe('The body is over 1024 bytes');
  });
});
