/** Structured logging (pino): JSON lines by default, human-readable when asked or on a terminal. */
import { Writable } from 'node:stream';
import { type DestinationStream, type Logger, pino, type StreamEntry } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';
import { PRIVATE_FILE_MODE } from './private-files.js';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

const PRETTY_OPTIONS = { ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' };

export interface LoggerOptions {
  service: string;
  instanceId?: string;
  level?: LogLevel;
  format?: LogFormat;
  /**
   * Where the lines go besides the console (`up`): every line, as JSON, also appended to `file`
   * (created 0600); `console: 'warnings'` keeps the console to warnings and errors, one short line each
   * on stderr. Without it every line goes to stdout.
   */
  outputs?: { file: string; console: 'all' | 'warnings' };
}

export function createLogger(options: LoggerOptions): Logger {
  const format = options.format ?? (process.stdout.isTTY ? 'pretty' : 'json');
  const level = options.level ?? DEFAULT_LOG_LEVEL;
  const base = { service: options.service, ...(options.instanceId ? { instance: options.instanceId } : {}) };
  if (options.outputs) {
    const { file, console } = options.outputs;
    const streams: StreamEntry<LogLevel>[] = [
      { level, stream: pino.destination({ dest: file, append: true, sync: true, mode: PRIVATE_FILE_MODE }) },
      console === 'all'
        ? { level, stream: format === 'pretty' ? pretty(PRETTY_OPTIONS) : process.stdout }
        : { level: 'warn', stream: shortLines(process.stderr) },
    ];
    return pino({ level, base }, pino.multistream(streams));
  }
  return pino({
    level,
    base,
    ...(format === 'pretty' ? { transport: { target: 'pino-pretty', options: PRETTY_OPTIONS } } : {}),
  });
}

interface LogLine {
  level?: number;
  part?: string;
  msg?: string;
  err?: { message?: string };
}

/** `warning (part): message: error` for each JSON line pino writes; what a person reads between status lines. */
function shortLines(out: NodeJS.WritableStream): DestinationStream {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (!text) continue;
        const line = JSON.parse(text) as LogLine;
        const label = (line.level ?? 0) >= 50 ? 'error' : 'warning';
        const reason = line.err?.message ? `: ${line.err.message}` : '';
        out.write(`${label}${line.part ? ` (${line.part})` : ''}: ${line.msg ?? ''}${reason}\n`);
      }
      done();
    },
  });
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
