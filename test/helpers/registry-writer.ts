/**
 * A writer of the device registry in a process of its own, for tests of writers racing each other:
 * `fork(registry-writer.js, [path, 'add' | 'revoke', deviceId])`. It says `ready`, waits for `go`
 * (so that all writers start at once), runs the real registry code, reports and exits.
 */
import { registerDevice, revokeDevice } from '../../src/core/device-registry.js';

export type WriterOperation = 'add' | 'revoke';
export type WriterReport = { ready: true } | { done: true } | { error: string };

const [path, operation, deviceId] = process.argv.slice(2);
const send = (report: WriterReport) => process.send?.(report);

process.once('message', async () => {
  try {
    if (!path || !deviceId) throw new Error('usage: registry-writer <path> add|revoke <deviceId>');
    if (operation === 'add') await registerDevice(path, deviceId, 1);
    else if (operation === 'revoke') await revokeDevice(path, deviceId);
    else throw new Error(`unknown operation ${operation}`);
    send({ done: true });
  } catch (error) {
    send({ error: (error as Error).stack ?? String(error) });
  }
  process.disconnect();
});
send({ ready: true });
