/** The alert webhook's retries (core/retry.ts): a 5xx is retried up to the limit, a 4xx never. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { createWebhookSender } from '../../src/engage/webhook.js';

describe('alert webhook', () => {
  let server: Server;
  let url = '';
  const requests: string[] = [];
  /** Called once the server has answered a request. */
  let answered: () => void = () => undefined;
  /** The status each path answers with. */
  const statusOf = (path: string) => Number(path.split('/')[1]);

  before(async () => {
    server = createServer((request, response) => {
      requests.push(request.url ?? '');
      request.resume();
      request.on('end', () => response.writeHead(statusOf(request.url ?? '')).end(answered));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /**
   * Sends one alert and waits for its end: given up (`onFailure`), or answered with a 2xx. `stop()` only
   * afterwards, because a stopping sender no longer retries.
   */
  const deliver = async (path: string, retries: number) => {
    requests.length = 0;
    let failures = 0;
    let settle: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const sender = createWebhookSender({
      url: `${url}${path}`,
      timeoutMs: 2000,
      retries,
      backoffMs: 1,
      logger: silentLogger(),
      onFailure: () => {
        failures++;
        settle();
      },
    });
    answered = () => {
      if (statusOf(path) < 300) settle();
    };
    sender.send({ alert: 1 });
    await settled;
    await sender.stop();
    return { attempts: requests.length, failures };
  };

  test('a 2xx is delivered at once', async () => {
    assert.deepEqual(await deliver('/204', 3), { attempts: 1, failures: 0 });
  });

  test('a 5xx is tried once and then `retries` more times, then given up', async () => {
    assert.deepEqual(await deliver('/503', 2), { attempts: 3, failures: 1 });
  });

  test('a 4xx other than 408/429 is not retried', async () => {
    assert.deepEqual(await deliver('/400', 3), { attempts: 1, failures: 1 });
  });
});
