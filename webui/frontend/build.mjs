// Build the web UI islands with esbuild: node build.mjs [--outdir DIR]
//
// Writes diagram.js/.css, form.js/.css, chart.js/.css, modeler.js/.css and form-editor.js/.css
// into DIR (default ../static/dist, relative to this file), and Swagger UI's files into DIR/swagger-ui. Fonts are inlined as data URLs: the pages load nothing from elsewhere.

import { copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));

export const ENTRY_POINTS = {
  diagram: 'src/diagram.js',
  form: 'src/form.js',
  chart: 'src/chart.js',
  modeler: 'src/modeler.js',
  'form-editor': 'src/form-editor.js',
};

/**
 * `form-js-editor-viewer:<file>` is <file> of the form-js-viewer that @bpmn-io/form-js-editor itself
 * depends on (1.x, nested under the editor), not the 2.x one the task form island uses.
 */
const editorViewerPlugin = {
  name: 'form-js-editor-viewer',
  setup(build) {
    build.onResolve({ filter: /^form-js-editor-viewer:/ }, async (args) => {
      const file = args.path.slice('form-js-editor-viewer:'.length);
      const found = await build.resolve(`@bpmn-io/form-js-viewer/${file}`, {
        kind: args.kind,
        resolveDir: path.join(here, 'node_modules', '@bpmn-io', 'form-js-editor'),
      });
      return found.errors.length ? { errors: found.errors } : { path: found.path };
    });
  },
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
  plugins: [editorViewerPlugin],
  logLevel: 'warning',
});

// The API's interactive page (/api/v1/docs) uses Swagger UI's own prebuilt files, copied as they are.
const swaggerDir = path.join(outdir, 'swagger-ui');
await mkdir(swaggerDir, { recursive: true });
for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css']) {
  await copyFile(path.join(here, 'node_modules', 'swagger-ui-dist', file), path.join(swaggerDir, file));
}

for (const file of (await readdir(outdir)).sort()) {
  if (file === 'swagger-ui') continue;
  const { size } = await stat(path.join(outdir, file));
  console.log(`${file.padEnd(16)} ${(size / 1024).toFixed(1).padStart(8)} KiB`);
}
