import type { OpenAPIObject } from '@nestjs/swagger';
import { API_ERROR_REF, API_ERROR_SCHEMA, documentErrors } from './error-responses';

const json = (schema: object) => ({ 'application/json': { schema } });

function document(): OpenAPIObject {
  return {
    openapi: '3.0.0',
    info: { title: 't', version: '1' },
    paths: {
      '/v1/things': {
        get: { security: [{ bearer: [] }], responses: { '200': { description: 'the things' } } },
        post: {
          security: [{ bearer: [] }],
          requestBody: { content: json({ type: 'object' }) },
          responses: { '201': { description: '' } },
          'x-error-403': 'needs an admin key',
        },
      },
      '/v1/open': {
        get: {
          responses: {
            '200': { description: '' },
            '400': { description: 'its own', content: json({ type: 'object' }) },
            '429': { description: 'busy' },
          },
        },
      },
    },
  } as unknown as OpenAPIObject;
}

describe(documentErrors.name, () => {
  it('gives every operation 400, and 401, 429 and 503 when it takes a key, 413 and 415 when it takes a body', () => {
    const sut = document();

    documentErrors(sut, { bodyLimit: 1024 });

    const statuses = (path: string, method: string) =>
      Object.keys((sut.paths[path] as Record<string, { responses: object }>)[method].responses);
    expect(statuses('/v1/things', 'get')).toEqual(['200', '400', '401', '429', '503']);
    expect(statuses('/v1/things', 'post')).toEqual(['201', '400', '401', '403', '413', '415', '429', '503']);
    expect(statuses('/v1/open', 'get')).toEqual(['200', '400', '429']);
    expect(sut.paths['/v1/things'].post!.responses['413']).toMatchObject({
      description: 'The body is over 1024 bytes',
    });
  });

  it('turns ApiErrors’ extensions into responses, and answers the error body and Retry-After unless told otherwise', () => {
    const sut = document();

    documentErrors(sut, { bodyLimit: 1024 });

    const post = sut.paths['/v1/things'].post!;
    expect(post).not.toHaveProperty('x-error-403');
    expect(post.responses['403']).toEqual({
      description: 'needs an admin key',
      content: json(API_ERROR_REF),
    });
    expect(post.responses['429']).toMatchObject({
      content: json(API_ERROR_REF),
      headers: { 'Retry-After': { required: true, schema: { type: 'integer', minimum: 1 } } },
    });
    expect(post.responses['503']).toMatchObject({ headers: { 'Retry-After': { required: false } } });
    const open = sut.paths['/v1/open'].get!;
    expect(open.responses['400']).toEqual({ description: 'its own', content: json({ type: 'object' }) });
    expect(open.responses['429']).toMatchObject({ description: 'busy', content: json(API_ERROR_REF) });
    expect(open.responses['200']).toEqual({ description: '' });
    expect(sut.components?.schemas?.ApiError).toBe(API_ERROR_SCHEMA);
  });
});
