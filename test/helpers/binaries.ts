import { spawnSync } from 'node:child_process';

/** Where `name` is on PATH, or undefined: the one lookup for system binaries the tests use. */
export function binaryPath(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/**
 * For tests that need a system binary: returns a skip message when it is missing, so that
 * `test(name, { skip: missingBinary('mosquitto') }, …)` skips with a clear reason. Under CI=true a
 * missing binary is a failure instead (CI installs it), so a broken CI set-up cannot pass by skipping.
 */
export function missingBinary(name: string, hint = `apt-get install -y ${name}`): string | false {
  if (binaryPath(name) !== undefined) return false;
  if (process.env.CI === 'true') throw new Error(`${name} is required under CI=true but is not installed (${hint})`);
  return `${name} is not installed (${hint})`;
}
