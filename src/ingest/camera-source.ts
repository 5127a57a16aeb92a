/**
 * Camera-command source: runs a shell command that writes one JPEG to stdout (libcamera-still,
 * ffmpeg from RTSP, …) on a schedule. Runs never overlap, each has a timeout, and a failing run is
 * logged (exit status, stderr excerpt) without stopping the schedule.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../core/log.js';
import { nowSeconds } from '../core/messages.js';
import type { PhotoIngestor } from './photo-ingestor.js';

export interface CameraSourceOptions {
  command: string;
  deviceId: string;
  intervalMs: number;
  timeoutMs: number;
  ingestor: PhotoIngestor;
  logger: Logger;
}

export interface CameraSource {
  stop(): Promise<void>;
}

export class CaptureError extends Error {
  override name = 'CaptureError';
}

const STDERR_EXCERPT = 500;

/**
 * Runs `command` in a shell and returns its stdout. Output beyond `maxBytes` is an error; the
 * whole process group is killed on timeout or abort so that ffmpeg & co. do not linger.
 */
export function captureStdout(
  command: string,
  timeoutMs: number,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let failure: string | undefined;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      failure = `timed out after ${timeoutMs} ms`;
      killGroup();
    }, timeoutMs);
    const onAbort = () => {
      failure ??= 'was stopped';
      killGroup();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        failure ??= `wrote more than ${maxBytes} bytes`;
        killGroup();
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < STDERR_EXCERPT * 4) stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(new CaptureError(`cannot run camera command: ${error.message}`));
    });
    child.on('close', (code, exitSignal) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const excerpt = stderr.trim().slice(-STDERR_EXCERPT);
      const suffix = excerpt ? `; stderr: ${excerpt}` : '';
      if (failure) reject(new CaptureError(`camera command ${failure}${suffix}`));
      else if (code !== 0)
        reject(new CaptureError(`camera command exited with ${exitSignal ?? `status ${code}`}${suffix}`));
      else resolve(Buffer.concat(chunks));
    });
  });
}

export function startCameraSource(options: CameraSourceOptions): CameraSource {
  const { command, deviceId, intervalMs, timeoutMs, ingestor, logger } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;
  const stopping = new AbortController();

  const runOnce = async () => {
    const takenAt = nowSeconds();
    try {
      const jpeg = await captureStdout(command, timeoutMs, ingestor.limits.maxBytes, stopping.signal);
      const metadata = await ingestor.ingest(deviceId, jpeg, takenAt);
      logger.info({ filePath: metadata.filePath, bytes: jpeg.length }, 'camera photo ingested');
    } catch (error) {
      if (stopped) return;
      logger.warn({ err: error, deviceID: deviceId }, 'camera capture failed; trying again at the next interval');
    }
  };

  // Schedules each run from the start of the previous one; a slow run delays the next, never overlaps it.
  const loop = () => {
    if (stopped) return;
    const started = Date.now();
    current = runOnce().finally(() => {
      current = undefined;
      if (stopped) return;
      timer = setTimeout(loop, Math.max(0, intervalMs - (Date.now() - started)));
    });
  };
  logger.info({ command, deviceID: deviceId, intervalMs, timeoutMs }, 'camera command source started');
  loop();

  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      stopping.abort();
      await current;
    },
  };
}
