/**
 * Worker thread of the local pool: loads the detector once, the density network on the first photo
 * that needs it, then answers pass requests one at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createDetector, DecodeError, loadModelPass, openPhoto } from './detector.js';
import { type DensityPass, loadDensityPass } from './onnx/density-model.js';
import { loadOnnxModelPass } from './onnx/onnx-model.js';
import type { PassRequest, WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('detector-worker must run in a worker thread');

try {
  const { runtime, precision } = workerData as WorkerData;
  const { pass, warning } = await loadModelPass(runtime, () => loadOnnxModelPass(precision));
  const detector = createDetector(pass);
  let density: Promise<DensityPass> | undefined;

  async function run(id: number, jpeg: Buffer, request: PassRequest): Promise<WorkerReply> {
    const started = performance.now();
    const photo = await openPhoto(jpeg);
    if (request.kind === 'detect') {
      const result = await detector.detect(photo, request.options);
      return { type: 'result', id, ...result, ms: performance.now() - started };
    }
    density ??= loadDensityPass();
    const map = await (await density).run(await photo.decoded());
    return { type: 'density', id, map, ms: performance.now() - started };
  }

  port.postMessage({
    type: 'ready',
    backend: detector.backend,
    model: detector.model,
    ...(warning !== undefined ? { warning } : {}),
  } satisfies WorkerReply);
  port.on('message', async (request: WorkerRequest) => {
    try {
      port.postMessage((await run(request.id, Buffer.from(request.jpeg), request.pass)) satisfies WorkerReply);
    } catch (error) {
      port.postMessage({
        type: 'error',
        id: request.id,
        unusable: error instanceof DecodeError,
        message: (error as Error).message,
      } satisfies WorkerReply);
    }
  });
} catch (error) {
  port.postMessage({ type: 'fatal', message: (error as Error).message } satisfies WorkerReply);
}
