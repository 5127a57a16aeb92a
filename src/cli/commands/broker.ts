import { Command } from 'commander';
import { z } from 'zod';
import { credentialsFromEnv, servicePasswordEnv } from '../../broker/access.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_PACKET_BYTES, startBroker } from '../../broker/broker.js';
import { ConfigError, DEFAULT_HOST, DEFAULT_MQTT_PORT, readSecret } from '../../core/config.js';
import { stopOnSignals } from '../../core/lifecycle.js';
import { DEFAULT_DISCOVERY_PREFIX, defaultMetadataTopic, makeTopics } from '../../core/topics.js';
import {
  addConnectionLimitOptions,
  addLogOptions,
  addTopicOptions,
  byteSizeArg,
  connectionLimitsFromOptions,
  deviceRegistryOption,
  durationArg,
  ENV_PREFIX,
  identityFromOptions,
  intArg,
  openDeviceRegistryOption,
  option,
  parseOptions,
} from '../options.js';

const ADMIN_PASSWORD_ENV = `${ENV_PREFIX}BROKER_PASSWORD`;

export function brokerCommand(): Command {
  const command = new Command('broker')
    .description('run an embedded MQTT 3.1.1 broker (aedes) in this process, with an account per service')
    .addOption(option('--host <address>', 'address to bind').default(DEFAULT_HOST))
    .addOption(option('--port <port>', 'TCP port').argParser(intArg(0, 65535)).default(DEFAULT_MQTT_PORT))
    .addOption(
      option(
        '--username <name>',
        `an admin account that may do anything (password from ${ADMIN_PASSWORD_ENV} or ${ADMIN_PASSWORD_ENV}_FILE)`,
      ),
    )
    .addOption(deviceRegistryOption())
    .addOption(option('--allow-anonymous', 'accept clients without credentials, with every right (tests only)'))
    .addOption(
      option('--max-packet-size <size>', 'close a connection that sends a larger MQTT packet (e.g. 11MB)')
        .argParser(byteSizeArg)
        .default(DEFAULT_MAX_PACKET_BYTES, `${DEFAULT_MAX_PACKET_BYTES} bytes (the largest photo + 64 KiB)`),
    )
    .addOption(
      option('--connect-timeout <duration>', 'close a connection that has not sent MQTT CONNECT in this time')
        .argParser(durationArg)
        .default(DEFAULT_CONNECT_TIMEOUT_MS, '5s'),
    )
    .addOption(
      option('--ha-discovery-prefix <prefix>', 'where engage may publish Home Assistant discovery').default(
        DEFAULT_DISCOVERY_PREFIX,
      ),
    )
    .addHelpText(
      'after',
      `
Accounts (each password from the variable or <variable>_FILE):
  inference  ${servicePasswordEnv('inference')}: coordination, results, superseded, per-device counts
  ingest     ${servicePasswordEnv('ingest')}: the metadata topic
  engage     ${servicePasswordEnv('engage')}: alerts, device state, site occupancy, Home Assistant discovery
  homeassistant  ${servicePasswordEnv('homeassistant')}: for Home Assistant; reads discovery, device
             state, site occupancy, engage's availability and alerts; writes only <discovery prefix>/status
  devices    --device-registry (people-counter devices add): username = the device ID, password = its
             own secret, client ID = the device ID (or <id>/…); only <prefix>/devices/<id>/image and
             <prefix>/devices/<id>/availability. Deprecated: ${servicePasswordEnv('device')}, one password
             shared by every device that is not registered
A client publishing anywhere else is disconnected; a revoked device at once. See docs/system.md.`,
    );
  addTopicOptions(command);
  addConnectionLimitOptions(command);
  addLogOptions(command);
  return command.action(async (raw: unknown) => {
    const options = parseOptions(
      z.object({
        host: z.string(),
        port: z.number(),
        username: z.string().optional(),
        allowAnonymous: z.boolean().optional(),
        maxPacketSize: z.number().int().positive(),
        connectTimeout: z.number().int().positive(),
        haDiscoveryPrefix: z.string().min(1),
        topicPrefix: z.string(),
        metadataTopic: z.string().optional(),
        deviceRegistry: z.string().optional(),
      }),
      raw,
    );
    const { logger } = identityFromOptions('broker', raw);
    const password = readSecret(process.env, ADMIN_PASSWORD_ENV);
    if ((options.username === undefined) !== (password === undefined)) {
      throw new ConfigError(`--username and ${ADMIN_PASSWORD_ENV} go together`);
    }
    const admin =
      options.username !== undefined && password !== undefined ? { username: options.username, password } : undefined;
    const devices = await openDeviceRegistryOption(raw, logger);
    const fromEnv = credentialsFromEnv((name) => readSecret(process.env, name), admin);
    const credentials = devices ? { services: [], ...fromEnv, devices } : fromEnv;
    if (credentials === undefined && !options.allowAnonymous) {
      throw new ConfigError(
        `no broker accounts configured: set ${servicePasswordEnv('inference')} and the others (see --help), or pass --allow-anonymous`,
      );
    }
    const broker = await startBroker({
      host: options.host,
      port: options.port,
      logger,
      maxPacketBytes: options.maxPacketSize,
      connectTimeoutMs: options.connectTimeout,
      connectionLimits: connectionLimitsFromOptions(raw),
      access: {
        topics: makeTopics(options.topicPrefix, options.metadataTopic ?? defaultMetadataTopic(options.topicPrefix)),
        discoveryPrefix: options.haDiscoveryPrefix,
      },
      ...(credentials !== undefined ? { credentials } : {}),
    });
    await stopOnSignals(
      [
        {
          name: 'broker',
          stop: async () => {
            await broker.stop();
            devices?.close();
          },
        },
      ],
      logger,
    );
  });
}
