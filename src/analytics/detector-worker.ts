/** Worker thread of the local pool: loads the model once, then answers detect requests one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { createDetector, DecodeError, loadModelPass } from './detector.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('detector-worker must run in a worker thread');

try {
  const { runtime } = workerData as WorkerData;
  const { pass, warning } = await loadModelPass(runtime);
  const detector = createDetector(pass);
  port.postMessage({
    type: 'ready',
    backend: detector.backend,
    ...(warning !== undefined ? { warning } : {}),
  } satisfies WorkerReply);
  port.on('message', async (request: WorkerRequest) => {
    const started = performance.now();
    try {
      const result = await detector.detect(Buffer.from(request.jpeg), request.options);
      port.postMessage({
        type: 'result',
        id: request.id,
        ...result,
        ms: performance.now() - started,
      } satisfies WorkerReply);
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
