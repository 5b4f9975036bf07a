import { createDataSource, timescaleDecision } from './data-source';

describe(createDataSource.name, () => {
  it("hands pg DATABASE_CA_FILE as the URL's sslrootcert", () => {
    const url = 'postgres://u:p@db:5432/burnrate?sslmode=require';
    expect(createDataSource(url).options).toMatchObject({ url });
    const sut = createDataSource(url, '/etc/burnrate/db-ca/ca.crt');
    expect(sut.options).toMatchObject({
      url: 'postgres://u:p@db:5432/burnrate?sslmode=require&sslrootcert=%2Fetc%2Fburnrate%2Fdb-ca%2Fca.crt',
    });
  });
});

describe('timescaleDecision', () => {
  const probe = { installed: false, available: false, preload: '' };

  it('uses TimescaleDB when the extension is already in the database, whatever the rest says', () => {
    expect(timescaleDecision({ ...probe, installed: true })).toBe('use');
  });

  it('uses it when the server has it and preloads it, in any of the ways the setting is written', () => {
    for (const preload of [
      'timescaledb',
      'pg_stat_statements, timescaledb',
      '"timescaledb",auto_explain',
      '$libdir/timescaledb',
      'timescaledb-2.22.1',
    ])
      expect([preload, timescaleDecision({ ...probe, available: true, preload })]).toEqual([preload, 'use']);
  });

  it('stays on plain PostgreSQL when the package is installed but not preloaded (create extension would fail)', () => {
    expect(timescaleDecision({ ...probe, available: true, preload: 'pg_stat_statements' })).toBe(
      'not-preloaded',
    );
    expect(timescaleDecision({ ...probe, available: true, preload: 'timescaledb_toolkit' })).toBe(
      'not-preloaded',
    );
  });

  it('stays on plain PostgreSQL when the server does not have it', () => {
    expect(timescaleDecision({ ...probe, preload: 'timescaledb' })).toBe('absent');
    // a role that may not read shared_preload_libraries (pg_settings hides it): cannot tell, unless it is installed
    expect(timescaleDecision({ ...probe, available: true, preload: null })).toBe('unknown');
    expect(timescaleDecision({ ...probe, available: true, installed: true, preload: null })).toBe('use');
  });
});
