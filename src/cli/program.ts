/** The `people-counter` command tree: one CLI over the same service factories that `up` wires together. */
import { Command } from 'commander';
import { formatDuration } from '../core/config.js';
import { PACKAGE_VERSION as version } from '../core/version.js';
import { analyticsCommand } from './commands/analytics.js';
import { benchCommand } from './commands/bench.js';
import { brokerCommand } from './commands/broker.js';
import { calibrateCommand } from './commands/calibrate.js';
import { countCommand } from './commands/count.js';
import { devicesCommand } from './commands/devices.js';
import { engageCommand } from './commands/engage.js';
import { evalCommand } from './commands/eval.js';
import { fitAutoCommand } from './commands/fit-auto.js';
import { fitThresholdCommand } from './commands/fit-threshold.js';
import { inferenceCommand } from './commands/inference.js';
import { ingestCommand } from './commands/ingest.js';
import { simulateCommand } from './commands/simulate.js';
import { upCommand } from './commands/up.js';
import { durationArg } from './options.js';

export function buildProgram(): Command {
  const program = new Command('people-counter')
    .description('Turn photos from edge cameras into live, trustworthy people counts.')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions();
  // One line per command; each lives in ./commands/<name>.ts.
  program.addCommand(upCommand());
  program.addCommand(brokerCommand());
  program.addCommand(devicesCommand());
  program.addCommand(ingestCommand());
  program.addCommand(inferenceCommand());
  program.addCommand(analyticsCommand());
  program.addCommand(engageCommand());
  program.addCommand(simulateCommand());
  program.addCommand(countCommand());
  program.addCommand(evalCommand());
  program.addCommand(calibrateCommand());
  program.addCommand(fitThresholdCommand());
  program.addCommand(fitAutoCommand());
  program.addCommand(benchCommand());
  showDurationDefaultsReadably(program);
  return program;
}

/** Duration defaults are stored in milliseconds; `--help` and docs/cli.md show them as `5s`, `2m`. */
function showDurationDefaultsReadably(command: Command): void {
  for (const option of command.options) {
    if (option.parseArg === durationArg && typeof option.defaultValue === 'number') {
      option.defaultValueDescription ??= formatDuration(option.defaultValue);
    }
  }
  for (const sub of command.commands) showDurationDefaultsReadably(sub);
}
