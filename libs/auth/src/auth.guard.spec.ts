import type { ExecutionContext } from '@nestjs/common';
import { HttpException } from '@nestjs/common';
import type { Principal } from './api-key';
import { ApiKeyGuard, scopeTeam, type KeyVerifier } from './auth.guard';

const support: Principal = { keyId: 'k1', team: 'support', role: 'team' };
const admin: Principal = { keyId: 'k0', team: 'platform', role: 'admin' };

function context(request: { headers: Record<string, string | undefined>; principal?: Principal }) {
  return { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
}

async function statusOf(
  promise: Promise<unknown>,
): Promise<{ status: number; code: string; headers?: unknown }> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof HttpException)) throw err;
    const body = err.getResponse() as { error: { code: string } };
    return {
      status: err.getStatus(),
      code: body.error.code,
      headers: (err as HttpException & { headers?: unknown }).headers,
    };
  }
  throw new Error('expected a refusal');
}

describe(ApiKeyGuard.name, () => {
  const presented: string[] = [];
  let verifier: KeyVerifier;
  let sut: ApiKeyGuard;

  beforeEach(() => {
    presented.length = 0;
    verifier = {
      verify: (key) => {
        presented.push(key);
        return Promise.resolve(key === 'br_good' ? support : null);
      },
    };
    sut = new ApiKeyGuard(verifier);
  });

  it('puts the principal of a valid Bearer key on the request', async () => {
    const request: { headers: Record<string, string>; principal?: Principal } = {
      headers: { authorization: 'bearer   br_good ' },
    };
    expect(await sut.canActivate(context(request))).toBe(true);
    expect(request.principal).toEqual(support);
    expect(presented).toEqual(['br_good']);
  });

  it.each([
    ['no Authorization header', undefined],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['an unknown key', 'Bearer br_bad'],
  ])('answers 401 for %s', async (_what, authorization) => {
    expect(await statusOf(sut.canActivate(context({ headers: { authorization } })))).toMatchObject({
      status: 401,
      code: 'unauthenticated',
    });
  });

  it('answers 503, not 500 or 401, when the key store cannot be reached', async () => {
    sut = new ApiKeyGuard({ verify: () => Promise.reject(new Error('connection refused')) });
    expect(
      await statusOf(sut.canActivate(context({ headers: { authorization: 'Bearer br_good' } }))),
    ).toEqual({ status: 503, code: 'unavailable', headers: { 'Retry-After': '5' } });
  });
});

describe(scopeTeam.name, () => {
  it('gives a team key its own team, and 403 for any other', async () => {
    expect(scopeTeam(support, undefined)).toBe('support');
    expect(scopeTeam(support, 'support')).toBe('support');
    expect(await statusOf(Promise.resolve().then(() => scopeTeam(support, 'billing')))).toMatchObject({
      status: 403,
      code: 'forbidden',
    });
  });

  it('lets an admin key act for the team it names, or all teams', () => {
    expect(scopeTeam(admin, 'billing')).toBe('billing');
    expect(scopeTeam(admin, undefined)).toBeNull();
  });
});
