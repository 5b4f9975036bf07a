import { createPool, DEFAULT_STATEMENT_TIMEOUT_MS, isQueryCancelled } from './pool';

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
