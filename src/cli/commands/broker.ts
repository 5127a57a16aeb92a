import { Command } from 'commander';
import { z } from 'zod';
import { startBroker } from '../../broker/broker.js';
import { readSecret } from '../../core/config.js';
import { stopOnSignals } from '../../core/lifecycle.js';
import { addLogOptions, ENV_PREFIX, identityFromOptions, intArg, option, parseOptions } from '../options.js';

export function brokerCommand(): Command {
  const command = new Command('broker')
    .description('run an embedded MQTT 3.1.1 broker (aedes) in this process')
    .addOption(option('--host <address>', 'address to bind').default('127.0.0.1'))
    .addOption(option('--port <port>', 'TCP port').argParser(intArg(0, 65535)).default(1883))
    .addOption(
      option(
        '--username <name>',
        `require this username (password from ${ENV_PREFIX}BROKER_PASSWORD or ${ENV_PREFIX}BROKER_PASSWORD_FILE)`,
      ),
    );
  addLogOptions(command);
  return command.action(async (raw: unknown) => {
    const options = parseOptions(
      z.object({ host: z.string(), port: z.number(), username: z.string().optional() }),
      raw,
    );
    const { logger } = identityFromOptions('broker', raw);
    const password = readSecret(process.env, `${ENV_PREFIX}BROKER_PASSWORD`);
    const broker = await startBroker({
      host: options.host,
      port: options.port,
      logger,
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(password !== undefined ? { password } : {}),
    });
    await stopOnSignals([{ name: 'broker', stop: broker.stop }], logger);
  });
}
