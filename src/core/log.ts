/** Structured logging (pino): JSON lines by default, human-readable when asked or on a terminal. */
import { type Logger, pino } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

export interface LoggerOptions {
  service: string;
  instanceId?: string;
  level?: LogLevel;
  format?: LogFormat;
}

export function createLogger(options: LoggerOptions): Logger {
  const format = options.format ?? (process.stdout.isTTY ? 'pretty' : 'json');
  const base = { service: options.service, ...(options.instanceId ? { instance: options.instanceId } : {}) };
  return pino({
    level: options.level ?? DEFAULT_LOG_LEVEL,
    base,
    ...(format === 'pretty'
      ? { transport: { target: 'pino-pretty', options: { ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' } } }
      : {}),
  });
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
