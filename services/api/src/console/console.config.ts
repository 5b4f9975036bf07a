import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { optionalStr } from '@libs/config';

export const consoleSpec = {
  /** The built console (index.html and assets/), as `npm run build:console` writes it; default dist/console. */
  CONSOLE_DIR: optionalStr(),
};

/**
 * Where the console bundle is: CONSOLE_DIR, or dist/console of the checkout (or image) the api runs from — the nearest
 * folder above this file with a package.json, which is the same whether the api runs from source or from dist/.
 */
export function consoleDir(configured: string | undefined, from: string = __dirname): string {
  if (configured) return resolve(configured);
  let dir = from;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'console');
}
