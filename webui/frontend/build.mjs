// Build the web UI islands with esbuild: node build.mjs [--outdir DIR]
//
// Writes diagram.js/.css, form.js/.css and chart.js/.css into DIR (default ../static/dist,
// relative to this file). Fonts are inlined as data URLs: the pages load nothing from elsewhere.

import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));

export const ENTRY_POINTS = {
  diagram: 'src/diagram.js',
  form: 'src/form.js',
  chart: 'src/chart.js',
};

const { values } = parseArgs({
  options: { outdir: { type: 'string', default: path.join(here, '..', 'static', 'dist') } },
});
const outdir = path.resolve(values.outdir);

// Only this build's own files are replaced: other files in DIR are left alone.
await mkdir(outdir, { recursive: true });
for (const name of Object.keys(ENTRY_POINTS)) {
  await rm(path.join(outdir, `${name}.js`), { force: true });
  await rm(path.join(outdir, `${name}.css`), { force: true });
}

await esbuild.build({
  absWorkingDir: here,
  entryPoints: ENTRY_POINTS,
  outdir,
  bundle: true,
  format: 'iife',
  minify: true,
  platform: 'browser',
  target: 'es2020',
  charset: 'utf8',
  legalComments: 'eof',
  loader: {
    '.woff': 'dataurl',
    '.woff2': 'dataurl',
    '.ttf': 'dataurl',
    '.eot': 'empty',
    '.svg': 'dataurl',
  },
  logLevel: 'warning',
});

for (const file of (await readdir(outdir)).sort()) {
  const { size } = await stat(path.join(outdir, file));
  console.log(`${file.padEnd(14)} ${(size / 1024).toFixed(1).padStart(8)} KiB`);
}
