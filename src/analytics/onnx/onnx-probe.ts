/**
 * Whether ONNX Runtime's native library loads, tried in a child process. A library that crashes
 * while loading takes the whole process down beyond any try/catch: under arm64 user-mode emulation
 * its CPU detection segfaults. A child that dies says so, and the model runs on tfjs-wasm instead.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const PROBE_TIMEOUT_MS = 60_000;
let probed: Promise<string | undefined> | undefined;

/** Why ONNX Runtime cannot load here, or undefined when it loads. Probed once per process. */
export function onnxRuntimeLoadProblem(): Promise<string | undefined> {
  probed ??= probeOnnxRuntime();
  return probed;
}

function probeOnnxRuntime(): Promise<string | undefined> {
  try {
    return probeModuleLoad(createRequire(import.meta.url).resolve('onnxruntime-node'));
  } catch (error) {
    return Promise.resolve(`ONNX Runtime cannot load: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** Loads the CommonJS module at `entry` in a fresh Node process: why it failed, or undefined. */
export function probeModuleLoad(entry: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<string | undefined> {
  return new Promise((resolve) => {
    // An exception is caught and its message printed; a crash shows as the signal that ended the child.
    const script = `try { require(${JSON.stringify(entry)}) } catch (error) { process.stderr.write(String(error?.message ?? error)); process.exit(1) }`;
    const child = spawn(process.execPath, ['-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 2_000) stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve(`ONNX Runtime cannot load: ${error.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(undefined);
      const firstLine = stderr.split('\n').find((line) => line.trim() !== '');
      if (signal === 'SIGKILL') return resolve(`ONNX Runtime did not load within ${timeoutMs / 1000} s`);
      if (signal) return resolve(`ONNX Runtime crashed while loading (${signal})`);
      resolve(`ONNX Runtime cannot load: ${firstLine?.trim() ?? `exit code ${code}`}`);
    });
  });
}
