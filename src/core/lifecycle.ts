/** Graceful shutdown: stop every part in reverse start order on SIGINT/SIGTERM; a second signal forces exit. */
import type { Logger } from './log.js';

export interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

export function stopOnSignals(parts: Stoppable[], logger: Logger, graceMs = 30_000): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down gracefully (signal again to force)');
      const force = setTimeout(() => {
        logger.error({ graceMs }, 'graceful shutdown took too long; exiting');
        process.exit(1);
      }, graceMs);
      force.unref();
      stopAll(parts, logger).then(() => {
        clearTimeout(force);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export async function stopAll(parts: Stoppable[], logger: Logger): Promise<void> {
  for (const part of [...parts].reverse()) {
    try {
      await part.stop();
      logger.debug({ part: part.name }, 'stopped');
    } catch (error) {
      logger.error({ err: error, part: part.name }, 'error while stopping');
    }
  }
}
