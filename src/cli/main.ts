/** Entry point of `people-counter`: parses argv and turns configuration errors into exit code 2. */
import { CommanderError } from 'commander';
import { ConfigError } from '../core/config.js';
import { buildProgram } from './program.js';

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
