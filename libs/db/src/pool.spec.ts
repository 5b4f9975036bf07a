import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createPool, DEFAULT_STATEMENT_TIMEOUT_MS, isQueryCancelled, withCaFile } from './pool';

/** The TLS options pg connects with, as it reads them from the pool's options. */
const tlsOf = (options: ConstructorParameters<typeof Client>[0]): unknown =>
  (new Client(options) as unknown as { connectionParameters: { ssl: unknown } }).connectionParameters.ssl;

describe(createPool.name, () => {
  const url = 'postgres://u:p@127.0.0.1:1/db';

  it('gives every connection a statement timeout, 30 s unless told', async () => {
    const sut = createPool(url);
    expect(sut.options).toMatchObject({ max: 10, statement_timeout: DEFAULT_STATEMENT_TIMEOUT_MS });
    expect(DEFAULT_STATEMENT_TIMEOUT_MS).toBe(30_000);
    await sut.end();
  });

  it('takes a size alone, as before, or settings', async () => {
    const sized = createPool(url, 2);
    expect(sized.options).toMatchObject({ max: 2, statement_timeout: 30_000 });
    const set = createPool(url, { max: 3, statementTimeoutMs: 1500 });
    expect(set.options).toMatchObject({ max: 3, statement_timeout: 1500 });
    const off = createPool(url, { statementTimeoutMs: 0 });
    expect(off.options.statement_timeout).toBe(false);
    await Promise.all([sized.end(), set.end(), off.end()]);
  });
});

describe(withCaFile.name, () => {
  let dir: string;
  let caFile: string;
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'burnrate-db-'));
    caFile = join(dir, 'db ca.crt');
    writeFileSync(caFile, ca);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves the URL alone without DATABASE_CA_FILE', () => {
    const url = 'postgres://u:p@db:5432/burnrate?sslmode=verify-full';
    expect(withCaFile(url, undefined)).toBe(url);
    expect(tlsOf({ connectionString: url })).toEqual({});
  });

  it('has pg check the server against the CA, TLS on, the URL otherwise as it was', async () => {
    const sut = createPool('postgres://u:p%40ss@db:5432/burnrate?application_name=api', { caFile });
    const client = new Client(sut.options);
    expect(tlsOf(sut.options)).toEqual({ ca });
    expect(client).toMatchObject({
      host: 'db',
      port: 5432,
      user: 'u',
      password: 'p@ss',
      database: 'burnrate',
    });
    await sut.end();
  });

  it("keeps the URL's sslmode, which an ssl: { ca } option would have lost", () => {
    const url = withCaFile('postgres://u:p@db/burnrate?sslmode=verify-full', caFile);
    expect(tlsOf({ connectionString: url })).toEqual({ ca });
    expect(
      tlsOf({ connectionString: 'postgres://u:p@db/burnrate?sslmode=verify-full', ssl: { ca } }),
    ).toEqual({});
    expect(
      tlsOf({ connectionString: withCaFile('postgres://u:p@db/burnrate?sslmode=disable', caFile) }),
    ).toBe(false);
  });

  it('replaces an sslrootcert already in the URL', () => {
    const url = withCaFile('postgres://u:p@db/burnrate?sslrootcert=/elsewhere/ca.crt', caFile);
    expect(new URL(url).searchParams.getAll('sslrootcert')).toEqual([caFile]);
  });
});

describe(isQueryCancelled.name, () => {
  it('recognises SQLSTATE 57014 only', () => {
    expect(
      isQueryCancelled(
        Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
      ),
    ).toBe(true);
    expect(isQueryCancelled(Object.assign(new Error('deadlock'), { code: '40P01' }))).toBe(false);
    expect(isQueryCancelled(new Error('boom'))).toBe(false);
    expect(isQueryCancelled(null)).toBe(false);
  });
});
