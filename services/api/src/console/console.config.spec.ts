import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleDir } from './console.config';

describe(consoleDir.name, () => {
  it('is CONSOLE_DIR when set', () => {
    expect(consoleDir('/srv/console')).toBe('/srv/console');
  });

  it('is dist/console of the nearest folder with a package.json, from source or from dist/', () => {
    const root = mkdtempSync(join(tmpdir(), 'console-dir-'));
    writeFileSync(join(root, 'package.json'), '{}');
    for (const from of ['services/api/src/console', 'dist/services/api/src/console']) {
      mkdirSync(join(root, from), { recursive: true });
      expect(consoleDir(undefined, join(root, from))).toBe(join(root, 'dist/console'));
    }
  });
});
