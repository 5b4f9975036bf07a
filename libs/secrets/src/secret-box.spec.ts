import { randomBytes } from 'node:crypto';
import { SecretBox, SecretsKeyError } from './secret-box';

const key = () => randomBytes(32).toString('base64');

describe(SecretBox.name, () => {
  const current = key();
  const sut = SecretBox.fromEnv({ SECRETS_KEY: current });

  it('seals with AES-256-GCM under a key id and opens again; the same text seals differently each time', () => {
    const sealed = sut.seal('R0UT1NGKEY0000000000000000000000');
    expect(sealed).toMatch(new RegExp(`^enc:v1:${sut.keyId}:[A-Za-z0-9+/=]+$`));
    expect(sealed).not.toContain('R0UT1NG');
    expect(sut.open(sealed)).toBe('R0UT1NGKEY0000000000000000000000');
    expect(sut.seal('x')).not.toBe(sut.seal('x'));
  });

  it('refuses a tampered value (GCM tag)', () => {
    const sealed = sut.seal('whsec_abc');
    const raw = Buffer.from(sealed.split(':')[3], 'base64');
    raw[raw.length - 1] ^= 1;
    expect(() => sut.open(`enc:v1:${sut.keyId}:${raw.toString('base64')}`)).toThrow();
  });

  it('reads values stored before encryption as they are, and marks them for sealing', () => {
    expect(sut.open('https://hooks.slack.com/services/T/B/x')).toBe('https://hooks.slack.com/services/T/B/x');
    expect(sut.isStale('https://hooks.slack.com/services/T/B/x')).toBe(true);
    expect(sut.isStale(sut.seal('x'))).toBe(false);
  });

  it('rotates: the new key reads what the old one sealed when the old one is kept as previous', () => {
    const sealedOld = sut.seal('old secret');
    const rotated = SecretBox.fromEnv({ SECRETS_KEY: key(), SECRETS_PREVIOUS_KEYS: current });
    expect(rotated.open(sealedOld)).toBe('old secret');
    expect(rotated.isStale(sealedOld)).toBe(true);
    expect(() => SecretBox.fromEnv({ SECRETS_KEY: key() }).open(sealedOld)).toThrow(
      /neither SECRETS_KEY nor in SECRETS_PREVIOUS_KEYS/,
    );
  });

  it('seals and opens only the named fields', () => {
    const d = { type: 'pagerduty', routing_key: 'abc', severity: 'critical' };
    const sealed = sut.sealFields(d, ['routing_key', 'secret']);
    expect(sealed.type).toBe('pagerduty');
    expect(sealed.routing_key).toMatch(/^enc:v1:/);
    expect(sut.sealFields(sealed, ['routing_key']).routing_key).toBe(sealed.routing_key);
    expect(sut.openFields(sealed, ['routing_key', 'secret'])).toEqual(d);
  });

  it('needs a key in production, and a well-formed one anywhere', () => {
    expect(() => SecretBox.fromEnv({ NODE_ENV: 'production' })).toThrow(SecretsKeyError);
    expect(() => SecretBox.fromEnv({ SECRETS_KEY: 'c2hvcnQ=' })).toThrow(
      /32 random bytes in base64.*got 5 bytes/,
    );
  });

  it('outside production without a key, uses the public development key (any checkout reads the local database)', () => {
    const a = SecretBox.fromEnv({});
    const b = SecretBox.fromEnv({ NODE_ENV: 'test' });
    expect(b.open(a.seal('same'))).toBe('same');
    expect(a.keyId).toBe(SecretBox.fromEnv({ SECRETS_KEY: SecretBox.DEVELOPMENT_KEY }).keyId);
  });
});
