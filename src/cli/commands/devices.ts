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
} from '../../core/device-credentials.js';
import {
  exportMosquittoPasswordFile,
  InvalidDeviceIdForRegistryError,
  type RegistryWriteOptions,
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

/**
 * `--mosquitto-passwd`, on `add` and `revoke`: Mosquitto reads its password file again on SIGHUP and
 * then disconnects the accounts no longer in it (test/broker/broker.test.ts), so the change is one
 * command and a signal.
 */
function withMosquittoPasswd(command: Command): Command {
  return command.addOption(
    option(
      '--mosquitto-passwd <file>',
      'also rewrite this Mosquitto password file (as `devices mosquitto-passwd --out`); then send Mosquitto a SIGHUP',
    ),
  );
}

function registryWriteOptions(raw: unknown): RegistryWriteOptions {
  const { mosquittoPasswd } = parseOptions(z.object({ mosquittoPasswd: z.string().min(1).optional() }), raw);
  return mosquittoPasswd === undefined ? {} : { mosquittoPasswordFile: mosquittoPasswd };
}

/** What to do after --mosquitto-passwd, printed for the operator. */
function mosquittoReloadHint({ mosquittoPasswordFile }: RegistryWriteOptions): string {
  return mosquittoPasswordFile === undefined
    ? ''
    : `Wrote ${mosquittoPasswordFile}. Apply it: kill -HUP $(pidof mosquitto) (Docker: see docs/system.md).\n`;
}

function addCommand(): Command {
  return withMosquittoPasswd(
    withDataDir(
      new Command('add')
        .description('register a device and print its secret (shown once: it is stored only as a hash)')
        .argument('<deviceID>', 'the device ID (a UUID v4 unless --allow-any-device-id)')
        .addOption(option('--allow-any-device-id', 'accept any ID that is safe as a topic level, not only UUID v4')),
    ),
  ).action(async (deviceId: string, raw: unknown) => {
    const { allowAnyDeviceId } = parseOptions(z.object({ allowAnyDeviceId: z.boolean().optional() }), raw);
    const rejection = deviceIdRejection(deviceId, allowAnyDeviceId ?? false);
    if (rejection) throw new ConfigError(rejection);
    const writeOptions = registryWriteOptions(raw);
    let secret: string;
    try {
      ({ secret } = await registerDevice(registryPath(raw), deviceId, nowSeconds(), writeOptions));
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
      ].join('\n') + mosquittoReloadHint(writeOptions),
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
  return withMosquittoPasswd(
    withDataDir(
      new Command('revoke')
        .description('revoke a device: running services disconnect and refuse it from now on')
        .argument('<deviceID>', 'the device ID'),
    ),
  ).action(async (deviceId: string, raw: unknown) => {
    const writeOptions = registryWriteOptions(raw);
    if (!(await revokeDevice(registryPath(raw), deviceId, writeOptions))) {
      throw new ConfigError(`device ${deviceId} is not registered`);
    }
    process.stdout.write(`Revoked device ${deviceId}.\n${mosquittoReloadHint(writeOptions)}`);
  });
}

function mosquittoPasswdCommand(): Command {
  return withDataDir(
    new Command('mosquitto-passwd')
      .description("write the registered devices as a Mosquitto password file (the device listener's password_file)")
      .requiredOption('--out <file>', 'where to write it (mode 0600)'),
  ).action(async (raw: unknown) => {
    const { out } = parseOptions(z.object({ out: z.string().min(1) }), raw);
    await exportMosquittoPasswordFile(registryPath(raw), out);
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
  people-counter devices revoke 0b7c1c5e-7a44-4c7e-9b8a-2f1d3c4e5a6b --mosquitto-passwd /etc/mosquitto/devices.passwd
  kill -HUP "$(pidof mosquitto)"    # Mosquitto reloads the file and disconnects the revoked device
See docs/ingest.md and docs/security.md.`,
    );
}
