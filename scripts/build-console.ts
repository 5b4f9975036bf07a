/**
 * `npm run build:console`: the web console (console/) bundled by esbuild into dist/console — index.html, and under
 * assets/ one script and one stylesheet whose names carry a hash of their content (the api caches them for good).
 * Everything the page loads is in that folder: no CDN at run time.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';

/** The checkout: the nearest folder above this file with a package.json (from scripts/ or from dist/scripts/). */
function checkout(from = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
const ROOT = checkout();

export async function buildConsole(
  outdir = join(ROOT, 'dist/console'),
): Promise<{ js: string; css: string }> {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(outdir, 'assets'), { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: 'console/src/main.tsx' },
    bundle: true,
    format: 'esm',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    outdir: join(outdir, 'assets'),
    metafile: true,
    legalComments: 'linked',
    tsconfig: 'console/tsconfig.json',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  if (!js || !css) throw new Error(`esbuild wrote no script or no stylesheet: ${outputs.join(', ')}`);
  const page = readFileSync(join(ROOT, 'console/index.html'), 'utf8')
    .replace('__JS__', js)
    .replace('__CSS__', css);
  writeFileSync(join(outdir, 'index.html'), page);
  return { js, css };
}

if (require.main === module) {
  const outdir = process.argv[2] ? resolve(process.argv[2]) : undefined;
  buildConsole(outdir).then(
    ({ js, css }) => console.log(`console built: ${outdir ?? 'dist/console'} (${js}, ${css})`),
    (err: unknown) => {
      console.error(`console build failed: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
