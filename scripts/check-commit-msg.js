#!/usr/bin/env node
// Checks a commit message: a subject of at most 72 characters, then nothing or a blank line and a
// body. Run by the commit-msg hook in .githooks/ (enable it once per clone with
// `git config core.hooksPath .githooks`); usable alone: `node scripts/check-commit-msg.js FILE`.
// Lines git drops ('#' comments, everything below the scissors line of `commit -v`) are ignored.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const MAX_SUBJECT_LENGTH = 72;

/** The message as git will store it: comments and the diff below the scissors line removed. */
export function significantLines(message) {
  const lines = [];
  for (const line of message.replace(/\r\n/g, '\n').split('\n')) {
    if (/^# -+ >8 -+$/.test(line)) break;
    if (!line.startsWith('#')) lines.push(line.trimEnd());
  }
  while (lines.length > 0 && lines[0] === '') lines.shift();
  return lines;
}

/** What is wrong with a commit message, one problem a line; empty when it is fine. Pure. */
export function commitMessageProblems(message) {
  const lines = significantLines(message);
  if (lines.length === 0) return ['the message is empty'];
  const problems = [];
  const subject = lines[0];
  const length = [...subject].length;
  if (length > MAX_SUBJECT_LENGTH) {
    problems.push(`the subject is ${length} characters long; at most ${MAX_SUBJECT_LENGTH}: "${subject}"`);
  }
  if (lines.length > 1 && lines[1] !== '') {
    problems.push('put a blank line between the subject and the body');
  }
  return problems;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (file === undefined) {
    console.error('usage: node scripts/check-commit-msg.js COMMIT_MSG_FILE');
    process.exit(2);
  }
  const problems = commitMessageProblems(readFileSync(file, 'utf8'));
  if (problems.length > 0) {
    for (const problem of problems) console.error(`commit message: ${problem}`);
    console.error(`(the message is kept in ${file}; \`git commit -e -F ${file}\` edits it again)`);
    process.exit(1);
  }
}
