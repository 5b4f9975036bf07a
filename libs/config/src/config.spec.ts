import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  bool,
  commonSpec,
  int,
  list,
  optionalStr,
  parseConfig,
  pemFile,
  requiredWhen,
  str,
  url,
  type Env,
} from './config';

describe(parseConfig.name, () => {
  const spec = {
    PORT: int(8080, { min: 1, max: 65535 }),
    NAME: str(),
    URL: url(),
    ON: bool(false),
    LIST: list(['a']),
  };

  it('applies defaults and parses typed values', () => {
    const sut = parseConfig(spec, { NAME: 'x', URL: 'http://h:1/p', ON: 'yes', LIST: 'b, c' });
    expect(sut).toEqual({ PORT: 8080, NAME: 'x', URL: 'http://h:1/p', ON: true, LIST: ['b', 'c'] });
  });

  it('names every bad variable in one error', () => {
    let caught: unknown;
    try {
      parseConfig(spec, { PORT: '70000', URL: 'not a url', ON: 'maybe' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toEqual([
      'PORT must be <= 65535, got 70000',
      'NAME is required',
      'URL must be a URL, got "not a url"',
      'ON must be true or false, got "maybe"',
    ]);
  });

  it('rejects a non-integer', () => {
    expect(() => parseConfig({ N: int(1) }, { N: '1.5' })).toThrow('N must be an integer, got "1.5"');
  });
});

describe(pemFile.name, () => {
  let dir: string;
  let pem: string;
  let notPem: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'burnrate-config-'));
    pem = join(dir, 'ca.crt');
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    notPem = join(dir, 'secret.txt');
    writeFileSync(notPem, 'hunter2');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the file at start-up, keeping its path', () => {
    const sut = parseConfig({ CA: pemFile() }, { CA: pem });
    expect(sut.CA).toEqual({ path: pem, pem: readFileSync(pem, 'utf8') });
    expect(parseConfig({ CA: pemFile() }, {}).CA).toBeUndefined();
  });

  it('names the variable and the path of a file it cannot use, never what the file holds', () => {
    const missing = join(dir, 'missing.crt');
    let caught: unknown;
    try {
      parseConfig({ A: pemFile(), B: pemFile(), C: pemFile() }, { A: missing, B: notPem, C: dir });
    } catch (err) {
      caught = err;
    }
    expect((caught as ConfigError).problems).toEqual([
      `A: cannot read ${missing} (ENOENT)`,
      `B: ${notPem} is not a PEM file`,
      `C: cannot read ${dir} (EISDIR)`,
    ]);
    expect((caught as Error).message).not.toContain('hunter2');
  });
});

describe(requiredWhen.name, () => {
  const spec = { MODE: str('a'), TOKEN: requiredWhen(optionalStr(), 'MODE', 'oauth') };

  it('is optional unless the other variable has the value (in any case)', () => {
    expect(parseConfig(spec, {}).TOKEN).toBeUndefined();
    expect(parseConfig(spec, { MODE: 'OAuth', TOKEN: 't' }).TOKEN).toBe('t');
    expect(() => parseConfig(spec, { MODE: 'OAUTH' })).toThrow('TOKEN is required when MODE=oauth');
  });
});

describe('commonSpec', () => {
  let dir: string;
  let cert: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'burnrate-config-'));
    cert = join(dir, 'user.crt');
    writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const problems = (env: Env): string[] => {
    try {
      parseConfig(commonSpec, env);
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  it('takes no TLS files and no SASL by default', () => {
    const sut = parseConfig(commonSpec, {});
    expect(sut).toMatchObject({ KAFKA_SSL: false, KAFKA_SASL_MECHANISM: undefined });
    expect(sut.KAFKA_SSL_CA_FILE ?? sut.KAFKA_SSL_CERT_FILE ?? sut.KAFKA_SSL_KEY_FILE).toBeUndefined();
    expect(sut.SCHEMA_REGISTRY_CA_FILE ?? sut.DATABASE_CA_FILE).toBeUndefined();
  });

  it('refuses a client certificate without its key, and a key without its certificate, naming both', () => {
    expect(problems({ KAFKA_SSL_CERT_FILE: cert })).toEqual([
      'KAFKA_SSL_CERT_FILE is set without KAFKA_SSL_KEY_FILE: set both or neither',
    ]);
    expect(problems({ KAFKA_SSL_KEY_FILE: cert })).toEqual([
      'KAFKA_SSL_KEY_FILE is set without KAFKA_SSL_CERT_FILE: set both or neither',
    ]);
    expect(problems({ KAFKA_SSL_CERT_FILE: cert, KAFKA_SSL_KEY_FILE: cert })).toEqual([]);
  });

  it('reads the SASL mechanism in any case and refuses one it cannot configure', () => {
    expect(parseConfig(commonSpec, { KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512' }).KAFKA_SASL_MECHANISM).toBe(
      'scram-sha-512',
    );
    expect(problems({ KAFKA_SASL_MECHANISM: 'aws' })).toEqual([
      'KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256, scram-sha-512, oauthbearer, got "aws"',
    ]);
  });

  it('names every OAuth variable OAUTHBEARER needs and lacks', () => {
    expect(problems({ KAFKA_SASL_MECHANISM: 'OAUTHBEARER', KAFKA_OAUTH_CLIENT_ID: 'burnrate' })).toEqual([
      'KAFKA_OAUTH_TOKEN_URL is required when KAFKA_SASL_MECHANISM=oauthbearer',
      'KAFKA_OAUTH_CLIENT_SECRET is required when KAFKA_SASL_MECHANISM=oauthbearer',
    ]);
    expect(
      problems({
        KAFKA_SASL_MECHANISM: 'oauthbearer',
        KAFKA_OAUTH_TOKEN_URL: 'ftp://idp/token',
        KAFKA_OAUTH_CLIENT_ID: 'burnrate',
        KAFKA_OAUTH_CLIENT_SECRET: 's3cret',
      }),
    ).toEqual(['KAFKA_OAUTH_TOKEN_URL must be an http or https URL, got "ftp://idp/token"']);
  });

  it('takes a registry CA only for an https registry', () => {
    expect(problems({ SCHEMA_REGISTRY_CA_FILE: cert })).toEqual([
      'SCHEMA_REGISTRY_CA_FILE is set but SCHEMA_REGISTRY_URL is not an https URL',
    ]);
    const sut = parseConfig(commonSpec, {
      SCHEMA_REGISTRY_URL: 'https://registry:8081',
      SCHEMA_REGISTRY_CA_FILE: cert,
      DATABASE_CA_FILE: cert,
    });
    expect([sut.SCHEMA_REGISTRY_CA_FILE?.path, sut.DATABASE_CA_FILE?.path]).toEqual([cert, cert]);
  });
});
