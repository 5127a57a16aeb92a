import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// s3rver ships no types; this is the part of its API the tests use.
// @ts-expect-error no type declarations
import S3rver from 's3rver';
import type { StorageConfig } from '../../src/core/config.js';
import { freePort } from './net.js';

interface S3rverInstance {
  run(): Promise<unknown>;
  close(): Promise<void>;
}

export interface RunningS3 {
  endpoint: string;
  port: number;
  config: Extract<StorageConfig, { kind: 's3' }>;
  stop(): Promise<void>;
  /** Stops the server but keeps its data: a storage outage. */
  pause(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  resume(): Promise<void>;
}

/** A real S3 server (s3rver) on a free loopback port, credentials S3RVER/S3RVER, path-style. */
export async function startS3(port?: number): Promise<RunningS3> {
  const chosen = port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'pc-s3rver-'));
  const create = () =>
    new (S3rver as new (options: object) => S3rverInstance)({
      address: '127.0.0.1',
      port: chosen,
      directory: dir,
      silent: true,
    });
  let server = create();
  let running = true;
  await server.run();
  const endpoint = `http://127.0.0.1:${chosen}`;
  return {
    endpoint,
    port: chosen,
    config: {
      kind: 's3',
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
    },
    stop: async () => {
      if (running) await server.close();
      running = false;
      await rm(dir, { recursive: true, force: true });
    },
    pause: async () => {
      if (running) await server.close();
      running = false;
    },
    resume: async () => {
      if (running) return;
      server = create();
      await server.run();
      running = true;
    },
  };
}
