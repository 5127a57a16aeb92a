import { type ChildProcess, spawn } from 'node:child_process';
import { RedisClaimArbiter } from '../../src/inference/redis-arbiter.js';
import { freePort, waitFor } from './net.js';

export interface RunningRedis {
  url: string;
  /** What redis-server wrote, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Debian's redis-server on a free loopback port, nothing saved; ready once a claim round-trips. */
export async function startRedis(): Promise<RunningRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `redis://127.0.0.1:${port}`;
  const running: RunningRedis = {
    url,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
  const probe = new RedisClaimArbiter({ url, prefix: 'probe:' });
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        return probe
          .claim('probe', ['probe-item'], 1)
          .then(() => true)
          .catch(() => false);
      },
      { timeoutMs: 10_000, message: 'redis-server' },
    );
  } catch (error) {
    await running.stop();
    throw new Error(`${(error as Error).message}; redis-server wrote:\n${output}`);
  } finally {
    await probe.close();
  }
  return running;
}
