/**
 * `people-counter devices add|list|revoke|mosquitto-passwd|mosquitto-acl`: the device registry in a
 * data directory. Running services (`up`, `broker`, `ingest`, `engage` with --device-registry) follow
 * the file, so a revocation takes effect without a restart.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { ConfigError, DEFAULT_DATA_DIR } from '../../core/config.js';
import {
  DEVICE_REGISTRY_FILE,
  DeviceAlreadyRegisteredError,
  mosquittoDeviceAcl,
  mosquittoPasswordFile,
} from '../../core/device-credentials.js';
import {
  InvalidDeviceIdForRegistryError,
  readDeviceRegistry,
  registerDevice,
  revokeDevice,
} from '../../core/device-registry.js';
import { nowSeconds } from '../../core/messages.js';
import { DEFAULT_PREFIX } from '../../core/topics.js';
import { deviceIdRejection } from '../../ingest/photo-ingestor.js';
import { option, parseOptions } from '../options.js';

const dataDirSchema = z.object({ dataDir: z.string().min(1) });

function registryPath(options: unknown): string {
  return join(parseOptions(dataDirSchema, options).dataDir, DEVICE_REGISTRY_FILE);
}

/** `--data-dir`, on each subcommand so that it may follow the subcommand's name. */
function withDataDir(command: Command): Command {
  return command.addOption(
    option('--data-dir <dir>', `the data directory of \`up\` (the registry is <dir>/${DEVICE_REGISTRY_FILE})`).default(
      DEFAULT_DATA_DIR,
    ),
  );
}

function addCommand(): Command {
  return withDataDir(
    new Command('add')
      .description('register a device and print its secret (shown once: it is stored only as a hash)')
      .argument('<deviceID>', 'the device ID (a UUID v4 unless --allow-any-device-id)')
      .addOption(option('--allow-any-device-id', 'accept any ID that is safe as a topic level, not only UUID v4')),
  ).action(async (deviceId: string, raw: unknown) => {
    const { allowAnyDeviceId } = parseOptions(z.object({ allowAnyDeviceId: z.boolean().optional() }), raw);
    const rejection = deviceIdRejection(deviceId, allowAnyDeviceId ?? false);
    if (rejection) throw new ConfigError(rejection);
    let secret: string;
    try {
      ({ secret } = await registerDevice(registryPath(raw), deviceId, nowSeconds()));
    } catch (error) {
      if (error instanceof DeviceAlreadyRegisteredError || error instanceof InvalidDeviceIdForRegistryError) {
        throw new ConfigError(error.message);
      }
      throw error;
    }
    process.stdout.write(
      [
        `Registered device ${deviceId}. Its secret (shown only now; store it on the camera):`,
        '',
        `  ${secret}`,
        '',
        `MQTT: username ${deviceId}, password the secret, client ID ${deviceId}`,
        `REST: Authorization: Bearer <the secret> on /v1/devices/${deviceId}/images`,
        '',
      ].join('\n'),
    );
  });
}

function listCommand(): Command {
  return withDataDir(new Command('list').description('list the registered devices (never their secrets)')).action(
    async (raw: unknown) => {
      const { devices } = await readDeviceRegistry(registryPath(raw));
      if (devices.length === 0) process.stdout.write('no device is registered\n');
      for (const device of devices) {
        process.stdout.write(`${device.deviceId}  registered ${new Date(device.createdAt * 1000).toISOString()}\n`);
      }
    },
  );
}

function revokeCommand(): Command {
  return withDataDir(
    new Command('revoke')
      .description('revoke a device: running services disconnect and refuse it from now on')
      .argument('<deviceID>', 'the device ID'),
  ).action(async (deviceId: string, raw: unknown) => {
    if (!(await revokeDevice(registryPath(raw), deviceId))) {
      throw new ConfigError(`device ${deviceId} is not registered`);
    }
    process.stdout.write(`Revoked device ${deviceId}.\n`);
  });
}

function mosquittoPasswdCommand(): Command {
  return withDataDir(
    new Command('mosquitto-passwd')
      .description("write the registered devices as a Mosquitto password file (the device listener's password_file)")
      .requiredOption('--out <file>', 'where to write it (mode 0600)'),
  ).action(async (raw: unknown) => {
    const { out } = parseOptions(z.object({ out: z.string().min(1) }), raw);
    await writeFile(out, mosquittoPasswordFile(await readDeviceRegistry(registryPath(raw))), { mode: 0o600 });
  });
}

function mosquittoAclCommand(): Command {
  return new Command('mosquitto-acl')
    .description('write the Mosquitto ACL of the device listener: each device on its own topics only')
    .requiredOption('--out <file>', 'where to write it')
    .addOption(option('--topic-prefix <prefix>', 'prefix of every topic').default(DEFAULT_PREFIX))
    .action(async (raw: unknown) => {
      const { out, topicPrefix } = parseOptions(z.object({ out: z.string().min(1), topicPrefix: z.string() }), raw);
      await writeFile(out, mosquittoDeviceAcl(topicPrefix));
    });
}

export function devicesCommand(): Command {
  return new Command('devices')
    .description('register cameras, each with its own secret for MQTT and REST; list and revoke them')
    .addCommand(addCommand())
    .addCommand(listCommand())
    .addCommand(revokeCommand())
    .addCommand(mosquittoPasswdCommand())
    .addCommand(mosquittoAclCommand())
    .addHelpText(
      'after',
      `
Example:
  people-counter devices add "$(cat /proc/sys/kernel/random/uuid)"
  people-counter devices revoke 0b7c1c5e-7a44-4c7e-9b8a-2f1d3c4e5a6b
See docs/ingest.md and docs/security.md.`,
    );
}
