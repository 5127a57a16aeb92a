/**
 * Delivers alert messages to an optional webhook: each POST has a timeout and a few retries with
 * backoff, runs in the background (never on the result path) and is given up with a log line.
 * Deliveries go one at a time, in order, so that a receiver never sees "cleared" before "raised".
 */
import type { Logger } from '../core/log.js';
import { withRetry } from '../core/retry.js';

/** Alerts waiting for an unreachable webhook beyond this are dropped (and counted as failures). */
const MAX_WAITING = 1000;

export interface WebhookOptions {
  url: string;
  timeoutMs: number;
  retries: number;
  /** Delay before the first retry; doubles each time. */
  backoffMs?: number;
  logger: Logger;
  onFailure?: () => void;
}

export interface WebhookSender {
  send(message: unknown): void;
  /** Waits for deliveries in flight (each bounded by its timeouts and retries). */
  stop(): Promise<void>;
}

export function createWebhookSender(options: WebhookOptions): WebhookSender {
  let queue: Promise<void> = Promise.resolve();
  let waiting = 0;
  let stopped = false;

  const deliver = async (body: string): Promise<void> => {
    let attempts = 0;
    const policy = { attempts: options.retries + 1, baseMs: options.backoffMs ?? 500, maxMs: Number.POSITIVE_INFINITY };
    try {
      await withRetry(
        async () => {
          attempts++;
          const outcome = await postOnce(options.url, body, options.timeoutMs);
          if (outcome.kind !== 'delivered') throw new WebhookFailure(outcome.kind, outcome.problem);
        },
        policy,
        // Once stopping, a failed delivery is not tried again.
        { isPermanent: (error) => (error as WebhookFailure).kind === 'rejected' || stopped },
      );
    } catch (error) {
      options.logger.warn({ attempts, problem: (error as Error).message }, 'alert webhook delivery failed; giving up');
      options.onFailure?.();
    }
  };

  return {
    send(message) {
      if (waiting >= MAX_WAITING) {
        options.logger.warn({ waiting }, 'alert webhook is too far behind; dropping an alert');
        options.onFailure?.();
        return;
      }
      waiting++;
      const body = JSON.stringify(message);
      queue = queue.then(() => deliver(body)).finally(() => waiting--);
    },
    async stop() {
      stopped = true;
      await queue;
    },
  };
}

type PostOutcome = { kind: 'delivered' } | { kind: 'retry' | 'rejected'; problem: string };

class WebhookFailure extends Error {
  override name = 'WebhookFailure';
  constructor(
    readonly kind: 'retry' | 'rejected',
    problem: string,
  ) {
    super(problem);
  }
}

async function postOnce(url: string, body: string, timeoutMs: number): Promise<PostOutcome> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (response.ok) return { kind: 'delivered' };
    // A 4xx other than 408/429 will not get better by retrying.
    const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
    return { kind: retryable ? 'retry' : 'rejected', problem: `webhook answered ${response.status}` };
  } catch (error) {
    return { kind: 'retry', problem: (error as Error).message };
  }
}
