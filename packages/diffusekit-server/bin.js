#!/usr/bin/env node
// `diffusekit-server [options]` is `diffusekit serve [options]`: the CLI of diffusekit, which this package's
// dependencies complete.

process.argv.splice(2, 0, 'serve');
await import(new URL('lib/cli/main.js', import.meta.resolve('diffusekit/package.json')).href);
