import type { Pool } from 'pg';
import { generateApiKey, hashApiKey, hashesMatch, parseApiKey } from './api-key';
import { ApiKeyRepository } from './api-key.repository';

describe(generateApiKey.name, () => {
  it('generates keys whose prefix parses back and whose hash verifies', () => {
    const sut = generateApiKey();
    expect(sut.key).toMatch(/^br_[A-Za-z0-9_-]{8}_[A-Za-z0-9_-]{32}$/);
    expect(parseApiKey(sut.key)).toEqual({ prefix: sut.prefix });
    expect(hashesMatch(hashApiKey(sut.key), sut.hash)).toBe(true);
    expect(sut.hash.toString('hex')).not.toContain(sut.key);
  });

  it('does not match another key or a malformed one', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(hashesMatch(hashApiKey(b.key), a.hash)).toBe(false);
    expect(parseApiKey('Bearer nonsense')).toBeNull();
  });
});

describe(ApiKeyRepository.name, () => {
  it('lists by team and by role, each filter only when given', async () => {
    const queries: unknown[][] = [];
    const pool = {
      query: (_sql: string, params: unknown[]) => {
        queries.push(params);
        return Promise.resolve({ rows: [] });
      },
    } as unknown as Pool;
    const sut = new ApiKeyRepository(pool);
    await sut.list('support', 'team');
    await sut.list('support');
    await sut.list();
    expect(queries).toEqual([
      ['support', 'team'],
      ['support', null],
      [null, null],
    ]);
  });
});
