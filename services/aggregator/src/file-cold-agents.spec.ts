import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileColdAgents } from './file-cold-agents';

describe('FileColdAgents', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'cold-agents-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives back what was put, once, and only the newest value of a key', () => {
    const store = new FileColdAgents(join(dir, 'p0'));
    store.put('t/a', '{"v":1,"x":"é"}', 10);
    store.put('t/b', '{"v":2}', 20);
    store.put('t/a', '{"v":3}', 30);
    expect(store.size).toBe(2);
    expect(store.take('t/a')).toBe('{"v":3}');
    expect(store.take('t/a')).toBeUndefined();
    expect(store.take('t/b')).toBe('{"v":2}');
    expect(store.size).toBe(0);
    store.close();
  });

  it('keeps multi-byte text intact', () => {
    const store = new FileColdAgents(join(dir, 'p0'));
    const json = JSON.stringify({ agent: 'résumé-écrivain-🚀', n: 1 });
    store.put('k', json, 0);
    expect(store.take('k')).toBe(json);
    store.close();
  });

  it('lists the agents whose newest day ended before a time, and deletes without reading', () => {
    const store = new FileColdAgents(join(dir, 'p0'));
    store.put('old', '{}', 100);
    store.put('new', '{}', 300);
    expect(store.endedBefore(200)).toEqual(['old']);
    expect(store.delete('old')).toBe(true);
    expect(store.delete('old')).toBe(false);
    expect(store.endedBefore(1000)).toEqual(['new']);
    store.close();
  });

  it('rewrites the file once dead bytes outweigh live ones, and every live entry survives it', () => {
    const path = join(dir, 'p0');
    const store = new FileColdAgents(path, 4096);
    const value = (i: number, round: number) => JSON.stringify({ i, round, pad: 'x'.repeat(100 + (i % 7)) });
    for (let round = 0; round < 20; round++)
      for (let i = 0; i < 50; i++) store.put(`k${i}`, value(i, round), i);
    // 1,000 writes of ~120 bytes: without rewriting the file would hold ~120 KB for 50 live entries (~6 KB)
    expect(store.fileBytes).toBeLessThan(2 * 50 * 130 + 4096);
    expect(statSync(path).size).toBe(store.fileBytes);
    for (let i = 0; i < 50; i++) expect(store.take(`k${i}`)).toBe(value(i, 19));
    store.close();
  });

  it('removes its file on close', () => {
    const path = join(dir, 'p0');
    const store = new FileColdAgents(path);
    store.put('k', '{}', 0);
    expect(existsSync(path)).toBe(true);
    store.close();
    store.close();
    expect(existsSync(path)).toBe(false);
  });
});
