#!/usr/bin/env node
// Writes the examples of docs/home-assistant.md from the code that publishes them (run `npm run build` first).
import { readFileSync, writeFileSync } from 'node:fs';
import {
  REFERENCE_END,
  REFERENCE_START,
  renderHomeAssistantReference,
} from '../dist/src/engage/home-assistant-reference.js';

const target = new URL('../docs/home-assistant.md', import.meta.url);
const text = readFileSync(target, 'utf8');
const start = text.indexOf(REFERENCE_START);
const end = text.indexOf(REFERENCE_END);
if (start < 0 || end < start) throw new Error(`${target.pathname} has no ${REFERENCE_START} … ${REFERENCE_END}`);
writeFileSync(target, text.slice(0, start) + renderHomeAssistantReference() + text.slice(end + REFERENCE_END.length));
console.log(`wrote ${target.pathname}`);
