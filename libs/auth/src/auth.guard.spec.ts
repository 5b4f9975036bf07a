import type { ExecutionContext } from '@nestjs/common';
import { HttpException } from '@nestjs/common';
import type { Principal } from './api-key';
import { ApiKeyGuard, scopeTeam, type KeyVerifier } from './auth.guard';
import { RequestLimits } from './request-limits';

const support: Principal = { keyId: 'k1', team: 'support', role: 'team' };
const admin: Principal = { keyId: 'k0', team: 'platform', role: 'admin' };

function context(request: {
  headers: Record<string, string | undefined>;
  ip?: string;
  principal?: Principal;
}) {
  return { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
}

async function statusOf(
  promise: Promise<unknown>,
): Promise<{ status: number; code: string; headers?: unknown; details?: unknown }> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof HttpException)) throw err;
    const body = err.getResponse() as { error: { code: string; details: unknown } };
    return {
      status: err.getStatus(),
      code: body.error.code,
      details: body.error.details,
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
    ).toMatchObject({ status: 503, code: 'unavailable', headers: { 'Retry-After': '5' } });
  });

  describe('rate limits', () => {
    let now: number;
    const limits = (perKey: number, perAddress: number) =>
      RequestLimits.fromConfig(
        {
          RATE_LIMIT_PER_S: 1,
          RATE_LIMIT_BURST: perKey,
          RATE_LIMIT_UNAUTHENTICATED_PER_S: 1,
          RATE_LIMIT_UNAUTHENTICATED_BURST: perAddress,
        },
        () => now,
      );
    const request = (authorization: string | undefined, ip = '10.0.0.1') =>
      context({ headers: { authorization }, ip });

    beforeEach(() => {
      now = 1_000_000;
    });

    it('answers 429 with Retry-After once a key has spent its burst, and lets it through again after', async () => {
      sut = new ApiKeyGuard(verifier, limits(2, 10));
      expect(await sut.canActivate(request('Bearer br_good'))).toBe(true);
      expect(await sut.canActivate(request('Bearer br_good', '10.0.0.2'))).toBe(true);
      expect(await statusOf(sut.canActivate(request('Bearer br_good', '10.0.0.3')))).toEqual({
        status: 429,
        code: 'too_many_requests',
        headers: { 'Retry-After': '1' },
        details: { limit_per_s: 1, burst: 2, retry_after_s: 1 },
      });
      now += 1000;
      expect(await sut.canActivate(request('Bearer br_good'))).toBe(true);
    });

    it('limits failed attempts per client address, before looking the key up', async () => {
      sut = new ApiKeyGuard(verifier, limits(100, 2));
      expect((await statusOf(sut.canActivate(request(undefined)))).status).toBe(401);
      expect((await statusOf(sut.canActivate(request('Bearer br_bad')))).status).toBe(401);
      presented.length = 0;
      expect(await statusOf(sut.canActivate(request('Bearer br_bad')))).toMatchObject({
        status: 429,
        headers: { 'Retry-After': '1' },
      });
      expect(presented).toEqual([]);
      expect((await statusOf(sut.canActivate(request('Bearer br_bad', '10.0.0.9')))).status).toBe(401);
    });

    it('does not count a valid key against its address', async () => {
      sut = new ApiKeyGuard(verifier, limits(100, 1));
      for (let i = 0; i < 10; i++) expect(await sut.canActivate(request('Bearer br_good'))).toBe(true);
      expect((await statusOf(sut.canActivate(request('Bearer br_bad')))).status).toBe(401);
      expect((await statusOf(sut.canActivate(request('Bearer br_good')))).status).toBe(429);
    });

    it('limits nothing when no limits are given', async () => {
      for (let i = 0; i < 100; i++) expect(await sut.canActivate(request('Bearer br_good'))).toBe(true);
    });
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
