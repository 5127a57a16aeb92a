/**
 * What the pipeline adds to the model (issue 31; docs/analytics.md, "Pipeline overhead"):
 * `node dist/bench/pipeline-overhead.js [DIR=../shared/data/pennfudan-fudan] [rounds=3] [lanes=16]`.
 *
 * The same photos (DIR's, `rounds` times, every photo from a camera never seen before, so both sides
 * take the same passes) go first through the model alone (a local pool with `up`'s default workers,
 * every worker kept busy) and then through `up` as a user starts it: posted to ingest's REST API by
 * `lanes` concurrent senders, stored, announced, claimed, counted, published and stored by engage.
 * Prints photos/s and CPU per photo of both, their ratio, and where the pipeline's own main thread
 * spends its CPU (a V8 profile of `up`'s main thread over the saturated window; the model runs in
 * worker threads, so that thread is the pipeline's share). Measures; asserts nothing.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { loadDataset } from '../src/analytics/dataset.js';
import { createLocalPeopleCounter } from '../src/analytics/local-counter.js';
import { forEachKeepingWorkersBusy } from '../src/analytics/run-dataset.js';
import { forEachConcurrently } from '../src/core/concurrently.js';
import { waitFor } from '../test/helpers/net.js';
import { spawnUp } from '../test/helpers/stack.js';

const [dir = '../shared/data/pennfudan-fudan', roundsArg = '3', lanesArg = '16'] = process.argv.slice(2);
const labelled = await loadDataset(dir);
const jpegs = await Promise.all(labelled.map((photo) => readFile(photo.path)));
const photos = Array.from({ length: Number(roundsArg) }, () => jpegs).flat();
const workers = availableParallelism();
const round1 = (v: number) => Math.round(v * 10) / 10;

/** CPU seconds of a process (all its threads) from /proc: utime + stime in clock ticks of 10 ms. */
const cpuSecondsOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

// 1. The model alone.
const counter = await createLocalPeopleCounter({ workers });
await counter.count(jpegs[0] as Buffer); // load and warm up both networks
const modelCpu0 = process.cpuUsage();
const modelT0 = performance.now();
await forEachKeepingWorkersBusy(counter, photos, async (jpeg) => {
  await counter.count(jpeg, {}, randomUUID());
});
const modelSeconds = (performance.now() - modelT0) / 1000;
const modelCpu = process.cpuUsage(modelCpu0);
await counter.close();
const model = {
  photosPerSecond: round1(photos.length / modelSeconds),
  cpuMsPerPhoto: round1((modelCpu.user + modelCpu.system) / 1000 / photos.length),
};

// 2. The whole pipeline, `up` with its defaults, its main thread profiled.
const dataDir = await mkdtemp(join(tmpdir(), 'pc-overhead-'));
const profileDir = join(dataDir, 'profiles');
const { up, engagePort, ingestPort } = await spawnUp(
  dataDir,
  ['--log-level', 'warn'],
  ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
);
const pid = up.child.pid as number;
const engage = `http://127.0.0.1:${engagePort}`;
const devicesSchema = z.array(z.object({ id: z.string(), count: z.number().nullable() }));
const countedCameras = async (ids: ReadonlySet<string>) => {
  const response = await fetch(`${engage}/api/devices`);
  const devices = devicesSchema.parse(await response.json());
  return devices.filter((device) => ids.has(device.id) && device.count !== null).length;
};
const post = async (jpeg: Buffer, deviceId: string) => {
  const response = await fetch(`http://127.0.0.1:${ingestPort}/v1/devices/${deviceId}/images`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg' },
    body: new Uint8Array(jpeg),
  });
  if (response.status !== 201) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
};
let pipeline: Record<string, number>;
let window: [number, number];
try {
  await waitFor(() => up.stdout().includes('Model ready'), { timeoutMs: 180_000, message: "up's model" });
  const warmUp = new Set([randomUUID()]);
  await post(jpegs[0] as Buffer, [...warmUp][0] as string);
  await waitFor(async () => ((await countedCameras(warmUp)) === 1 ? true : undefined), {
    timeoutMs: 120_000,
    intervalMs: 100,
    message: 'the warm-up photo',
  });
  const cameras = photos.map(() => randomUUID());
  const ids = new Set(cameras);
  const cpu0 = cpuSecondsOf(pid);
  const t0 = process.hrtime.bigint();
  await forEachConcurrently([...photos.keys()], Number(lanesArg), (i) =>
    post(photos[i] as Buffer, cameras[i] as string),
  );
  // Polled twice a second: one list request, so the poll adds next to nothing to what is measured.
  await waitFor(async () => ((await countedCameras(ids)) === photos.length ? true : undefined), {
    timeoutMs: 1_800_000,
    intervalMs: 500,
    message: 'every photo counted',
  });
  const t1 = process.hrtime.bigint();
  const seconds = Number(t1 - t0) / 1e9;
  const cpu = cpuSecondsOf(pid) - cpu0;
  window = [Number(t0 / 1000n), Number(t1 / 1000n)];
  pipeline = {
    photosPerSecond: round1(photos.length / seconds),
    cpuMsPerPhoto: round1((cpu * 1000) / photos.length),
  };
} finally {
  await up.stop('SIGINT');
}

// 3. Where `up`'s main thread spent its CPU in that window (the profile of thread 0).
const profileSchema = z.object({
  nodes: z.array(z.object({ id: z.number(), callFrame: z.object({ functionName: z.string(), url: z.string() }) })),
  startTime: z.number(),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});
const mainProfile = readdirSync(profileDir)
  .filter((file) => file.endsWith('.cpuprofile') && file.includes(`.${pid}.0.`))
  .map((file) => join(profileDir, file))[0];
const where: Record<string, number> = {};
let inWindowMs = 0;
if (mainProfile) {
  const profile = profileSchema.parse(JSON.parse(readFileSync(mainProfile, 'utf8')));
  const nodeOf = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  let at = profile.startTime;
  for (const [i, id] of profile.samples.entries()) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < window[0] || at > window[1]) continue;
    const frame = nodeOf.get(id);
    if (!frame || frame.functionName === '(idle)') continue;
    const place = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url)?.[1] ?? placeOf(frame.url, frame.functionName);
    where[place] = (where[place] ?? 0) + delta / 1000;
    inWindowMs += delta / 1000;
  }
}
await rm(dataDir, { recursive: true, force: true });

function placeOf(url: string, functionName: string): string {
  // (program), (garbage collector), or a native function such as writev.
  if (url === '') return functionName.startsWith('(') ? functionName : `native ${functionName || '(anonymous)'}`;
  if (url.startsWith('node:')) return url;
  const inRepo = /\/dist\/(src\/.+)$/.exec(url)?.[1];
  return inRepo ?? basename(url);
}

const top = Object.entries(where)
  .sort((a, b) => b[1] - a[1])
  .slice(0, 12)
  .map(([place, ms]) => ({ place, ms: Math.round(ms), share: `${round1((ms / Math.max(1, inWindowMs)) * 100)} %` }));
console.log(
  JSON.stringify(
    {
      photos: photos.length,
      workers,
      model,
      pipeline,
      pipelineOverModel: Math.round(((pipeline.photosPerSecond ?? 0) / model.photosPerSecond) * 100) / 100,
      mainThread: mainProfile
        ? { busyMs: Math.round(inWindowMs), msPerPhoto: round1(inWindowMs / photos.length), top }
        : 'no profile of the main thread was written',
    },
    null,
    2,
  ),
);
