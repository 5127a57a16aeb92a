/** `people-counter`: one CLI over the same service factories that `up` wires together. */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../core/config.js';
import { analyticsCommand } from './commands/analytics.js';
import { benchCommand } from './commands/bench.js';
import { brokerCommand } from './commands/broker.js';
import { calibrateCommand } from './commands/calibrate.js';
import { countCommand } from './commands/count.js';
import { engageCommand } from './commands/engage.js';
import { evalCommand } from './commands/eval.js';
import { inferenceCommand } from './commands/inference.js';
import { ingestCommand } from './commands/ingest.js';
import { simulateCommand } from './commands/simulate.js';
import { upCommand } from './commands/up.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('people-counter')
    .description('Turn photos from edge cameras into live, trustworthy people counts.')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions();
  // One line per command; each lives in ./commands/<name>.ts.
  program.addCommand(upCommand());
  program.addCommand(brokerCommand());
  program.addCommand(ingestCommand());
  program.addCommand(simulateCommand());
  program.addCommand(countCommand());
  program.addCommand(evalCommand());
  program.addCommand(calibrateCommand());
  program.addCommand(analyticsCommand());
  program.addCommand(inferenceCommand());
  program.addCommand(benchCommand());
  program.addCommand(engageCommand());
  // <commands>
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode);
    if (error instanceof ConfigError) {
      console.error(`people-counter: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
}

await main();
