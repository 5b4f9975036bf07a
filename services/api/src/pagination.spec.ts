import { HttpException } from '@nestjs/common';
import { fits } from './http';
import { cursorSchema, encodeCursor, nextCursor, pageOf, parseCursor, type Keyset } from './pagination';

const RUNS: Keyset = { parts: ['instant', 'text', 'text'] };

function refusal(run: () => unknown): unknown {
  try {
    run();
  } catch (err) {
    return err instanceof HttpException ? { status: err.getStatus(), body: err.getResponse() } : err;
  }
  return 'accepted';
}

describe('keyset cursors', () => {
  it('give back the position they were made from, whatever the text holds', () => {
    const position = ['1764633600123456', 'équipe/α', 'run 1 🚀 with/slash.and.dots'];
    const cursor = encodeCursor(RUNS, position);
    expect(fits(cursorSchema(RUNS), cursor)).toBe(true);
    expect(parseCursor(RUNS, cursor)).toEqual(position);
  });

  it('take every string their published pattern admits as some position, and nothing else', () => {
    // any base64url decodes to some text: a position, never a refusal (nor a NUL PostgreSQL would refuse)
    expect(parseCursor(RUNS, '1.AA.__-')).toEqual(['1', '', '\uFFFD\uFFFD']);
    for (const shape of ['support', '1.2', '1.a.b.c', 'x.a.b', '123456789012345678.a.b', '1.a b.c'])
      expect(refusal(() => parseCursor(RUNS, shape))).toMatchObject({
        status: 400,
        body: { error: { details: { parameter: 'cursor' } } },
      });
    expect(parseCursor(RUNS, undefined)).toBeNull();
    expect(parseCursor(RUNS, '')).toBeNull();
  });

  it('name the next page only when a row beyond the page was fetched, at the page’s last row', () => {
    const rows = [{ k: 'a' }, { k: 'b' }, { k: 'c' }];
    const one: Keyset = { parts: ['text'] };
    expect(pageOf(rows, 3, one, (r) => [r.k])).toEqual({ items: rows, next_cursor: null });
    const page = pageOf(rows, 2, one, (r) => [r.k]);
    expect(page.items).toEqual(rows.slice(0, 2));
    expect(parseCursor(one, page.next_cursor!)).toEqual(['b']);
    expect(nextCursor(one, 2, [['a'], ['b']])).toBeNull();
    expect(parseCursor(one, nextCursor(one, 2, [['a'], ['b'], ['c']])!)).toEqual(['b']);
  });
});
