/**
 * Services as separate OS processes (`node bin/people-counter.js …`), for system tests: captured
 * output for diagnostics, exit status, and no orphans left behind if the test process dies.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { waitFor } from './net.js';

/** This file is dist/test/helpers/processes.js once built. */
export const REPO_ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../..');
export const CLI = resolve(REPO_ROOT, 'bin/people-counter.js');
/** Labelled photo sets beside the checkout (not redistributable, so never in the repo); tests skip without them. */
export const SHARED_DATA = resolve(REPO_ROOT, '../shared/data');

/**
 * The labelled photo set `name` under SHARED_DATA, with a skip message when it is absent. Under CI=true
 * its absence is an error instead (CI lays shared/ beside its clone), so accuracy tests cannot pass by skipping.
 */
export function sharedDataset(name: string): { dir: string; skip: string | false } {
  const dir = join(SHARED_DATA, name);
  if (existsSync(join(dir, 'labels.json'))) return { dir, skip: false };
  const reason = `no labelled photos at ${dir}`;
  if (process.env.CI === 'true') throw new Error(`${reason}: required under CI=true`);
  return { dir, skip: reason };
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<ExitStatus>;
  running(): boolean;
  /** The last 200 kB the process wrote to stdout and stderr, for diagnostics when a test fails. */
  output(): string;
  /** The last 200 kB of stdout alone (what a command prints for its user, apart from its logs). */
  stdout(): string;
  /** Sends `signal` and waits for the exit; SIGKILLs after `killAfterMs`. */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<ExitStatus>;
}

const OUTPUT_LIMIT = 200_000;
const live = new Set<ChildProcess>();
// A test process that dies (timeout, crash) must not leave services running.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** SIGKILLs `child` if this test process exits while it still runs (any spawned server, not only ours). */
export function killOnExit(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/**
 * The parent's environment without People Counter or AWS settings, so that a developer's shell
 * cannot change what a system test configures.
 */
function hermeticEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('PEOPLE_COUNTER_') && !name.startsWith('AWS_')),
  );
}

/** Runs a node script (by default the people-counter CLI) as a separate OS process. */
export function spawnProcess(
  name: string,
  args: string[],
  env: Record<string, string> = {},
  script = CLI,
  /** Node's own flags for the child, e.g. `--cpu-prof` (not allowed in NODE_OPTIONS). */
  nodeArgs: string[] = [],
): ServiceProcess {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd: REPO_ROOT,
    env: { ...hermeticEnv(), PEOPLE_COUNTER_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  let output = '';
  let stdout = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    keep(chunk);
  });
  child.stderr?.on('data', keep);
  const exited = new Promise<ExitStatus>((done) => {
    child.once('exit', (code, signal) => done({ code, signal }));
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    child,
    exited,
    running,
    output: () => output,
    stdout: () => stdout,
    async stop(signal = 'SIGTERM', killAfterMs = 20_000) {
      if (running()) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
}

/** Every process's captured output (its last `tailChars`), one block each, for a failing test's log. */
export function describeOutputs(processes: Iterable<ServiceProcess>, tailChars = OUTPUT_LIMIT): string {
  return [...processes]
    .map((p) => {
      const state = p.running() ? 'running' : `exited ${p.child.exitCode ?? p.child.signalCode}`;
      return `----- ${p.name} (pid ${p.child.pid}, ${state}) -----\n${p.output().slice(-tailChars).trimEnd()}`;
    })
    .join('\n');
}

/** Waits until GET url answers 2xx, failing early with its output if the process exits. */
export async function waitForHttp(url: string, service?: ServiceProcess, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      if (service && !service.running()) {
        throw new Error(`${service.name} exited before ${url} answered:\n${describeOutputs([service])}`);
      }
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        await response.body?.cancel();
        return response.ok;
      } catch {
        return false;
      }
    },
    { timeoutMs, intervalMs: 200, message: `${url} to answer` },
  );
}

/**
 * Sends `signal` to a child that is still running and resolves when it has exited; SIGKILLs it
 * after `killAfterMs` (a SIGTERM that is not honoured). A child that has already exited: at once.
 */
export async function endChild(child: ChildProcess | undefined, signal: NodeJS.Signals, killAfterMs: number) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const escalate = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => {
      clearTimeout(escalate);
      resolve();
    });
    child.kill(signal);
  });
}
