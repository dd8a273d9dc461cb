#!/usr/bin/env node
'use strict';
// Runs the compiled CLI; `npm run build` (or `npm ci`, through `prepare`) produces it.
try {
  require('../dist/src/cli/main.js').main(process.argv);
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli/main.js')) {
    console.error('vigil: the CLI is not built yet; run `npm run build` in ' + require('node:path').resolve(__dirname, '..'));
    process.exit(1);
  }
  throw err;
}
