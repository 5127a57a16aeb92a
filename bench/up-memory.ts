/**
 * What counting crowds costs `people-counter up` in memory and time (docs/analytics.md#crowds):
 * `node dist/bench/up-memory.js [DIR=../shared/data/mall-train] [photos=20] [skip=640]`
 * starts `up` as a user does (in-process model, its default workers), waits for the model, counts one
 * empty photo from a new camera (the density network checks it, so both networks have run), then
 * `photos` frames of DIR after its first `skip`, one at a time. Prints the process's resident memory
 * (VmRSS) when the model is ready, after the empty photo, after the first crowd and at its peak (growth:
 * peak − model ready), the median time from posting a crowd photo to its count on the dashboard's API
 * (polled every 20 ms; batching waits up to `up`'s --max-wait), and the MAE. */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../src/analytics/dataset.js';
import { solidJpeg } from '../test/helpers/fixtures.js';
import { waitFor } from '../test/helpers/net.js';
import { spawnUp } from '../test/helpers/stack.js';

const [dir = '../shared/data/mall-train', photos = '20', skip = '640'] = process.argv.slice(2);

const rssMb = (pid: number) => {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(line?.[1]) / 1024);
};

const dataDir = await mkdtemp(join(tmpdir(), 'pc-up-memory-'));
const { up, engagePort, ingestPort } = await spawnUp(dataDir, ['--log-level', 'warn']);
const pid = up.child.pid as number;
try {
  await waitFor(() => up.stdout().includes('Model ready'), { timeoutMs: 120_000, message: "up's model" });
  const atModelReady = rssMb(pid);
  const engage = `http://127.0.0.1:${engagePort}`;
  /** Posts a photo as a new camera and polls engage until that camera has a count. */
  const counted = async (jpeg: Buffer) => {
    const deviceId = randomUUID();
    const response = await fetch(`http://127.0.0.1:${ingestPort}/v1/devices/${deviceId}/images`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(jpeg),
    });
    if (response.status !== 201) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
    const seen = await waitFor(
      async () => {
        const device = await fetch(`${engage}/api/devices/${deviceId}`);
        const { count } = device.ok ? ((await device.json()) as { count: number | null }) : { count: null };
        return count === null ? undefined : { count };
      },
      { timeoutMs: 300_000, intervalMs: 20, message: `the count of camera ${deviceId}` },
    );
    return seen.count;
  };
  await counted(await solidJpeg(640, 480));
  const afterEmptyPhoto = rssMb(pid);
  const frames = (await loadDataset(dir)).slice(Number(skip), Number(skip) + Number(photos));
  const rss: number[] = [];
  const wall: number[] = [];
  let error = 0;
  for (const frame of frames) {
    const t0 = performance.now();
    const count = await counted(await readFile(frame.path));
    wall.push(performance.now() - t0);
    error += Math.abs(count - frame.count);
    rss.push(rssMb(pid));
  }
  const sorted = [...wall].sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      photos: frames.length,
      rssAtModelReadyMb: atModelReady,
      rssAfterEmptyPhotoMb: afterEmptyPhoto,
      rssAfterFirstCrowdMb: rss[0],
      rssPeakMb: Math.max(...rss),
      rssGrowthMb: Math.max(...rss) - atModelReady,
      medianPostToCountMs: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
      mae: Math.round((error / frames.length) * 100) / 100,
    }),
  );
} finally {
  await up.stop('SIGINT');
  await rm(dataDir, { recursive: true, force: true });
}
