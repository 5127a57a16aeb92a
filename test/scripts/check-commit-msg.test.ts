/** The commit-msg check (scripts/check-commit-msg.js), run as the git hook runs it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'commit-msg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function check(message: string): { status: number | null; stderr: string } {
  const file = join(dir, 'COMMIT_EDITMSG');
  writeFileSync(file, message);
  const result = spawnSync(process.execPath, ['scripts/check-commit-msg.js', file], { encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

describe('check-commit-msg', () => {
  test('a short subject, alone or with a body after a blank line, passes', () => {
    assert.equal(check('Fix the thing\n').status, 0);
    assert.equal(check('Fix the thing\n\nBecause it was broken.\nTwo lines.\n').status, 0);
    assert.equal(check(`${'x'.repeat(72)}\n`).status, 0, '72 characters is the limit');
    assert.equal(check(`${'é'.repeat(72)}\n`).status, 0, 'characters, not bytes');
  });

  test('a subject over 72 characters fails, saying its length', () => {
    const result = check(`${'x'.repeat(73)}\n\nbody\n`);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /subject is 73 characters long; at most 72/);
  });

  test('a body right under the subject fails', () => {
    const result = check('Fix the thing\nbecause it was broken\n');
    assert.equal(result.status, 1);
    assert.match(result.stderr, /blank line between the subject and the body/);
  });

  test("what git drops does not count: comments, the scissors line's diff, leading blank lines", () => {
    const long = '#'.repeat(100);
    assert.equal(check(`\n\nFix the thing\n${long}\n\nbody\n# Please enter the commit message\n`).status, 0);
    const verbose = `Fix the thing\n# ------------------------ >8 ------------------------\n${'y'.repeat(100)}\nnext\n`;
    assert.equal(check(verbose).status, 0);
  });

  test('an empty message and a missing argument fail', () => {
    assert.equal(check('# only a comment\n\n').status, 1);
    assert.equal(spawnSync(process.execPath, ['scripts/check-commit-msg.js']).status, 2);
  });
});
