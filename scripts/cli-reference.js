#!/usr/bin/env node
// Writes docs/cli.md from the CLI definitions (run `npm run build` first; `npm run docs:cli` does both).
import { writeFileSync } from 'node:fs';
import { buildProgram } from '../dist/src/cli/program.js';
import { renderCliReference } from '../dist/src/cli/reference.js';

const target = new URL('../docs/cli.md', import.meta.url);
writeFileSync(target, renderCliReference(buildProgram()));
console.log(`wrote ${target.pathname}`);
