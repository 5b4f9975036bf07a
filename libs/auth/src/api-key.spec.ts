import { generateApiKey, hashApiKey, hashesMatch, parseApiKey } from './api-key';

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
