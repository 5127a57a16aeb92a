/**
 * Renders the CLI's own definitions as the Markdown configuration reference (docs/cli.md), so that
 * the documented flags, environment variables and defaults cannot drift from the code.
 */
import type { Command, Option } from 'commander';

/** Table-safe text; `<dir>` and the like would otherwise vanish as HTML tags. */
function markdownCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n/g, ' ');
}

function code(text: string): string {
  return text === '' ? '' : `\`${text.replace(/\|/g, '\\|')}\``;
}

function defaultOf(option: Option): string {
  if (option.defaultValueDescription !== undefined) return option.defaultValueDescription;
  if (option.defaultValue === undefined) return '';
  return typeof option.defaultValue === 'string' ? option.defaultValue : JSON.stringify(option.defaultValue);
}

function describeOption(option: Option): string {
  const choices = option.argChoices ? ` (one of ${option.argChoices.join(', ')})` : '';
  const required = option.mandatory ? ' **required**' : '';
  const negated = option.negate ? ' (the feature is on unless this is given)' : '';
  return `${option.description}${choices}${required}${negated}`;
}

function renderCommand(command: Command, path: string[]): string[] {
  const name = [...path, command.name()].join(' ');
  const args = command.registeredArguments.map((argument) =>
    argument.required ? `<${argument.name()}${argument.variadic ? '…' : ''}>` : `[${argument.name()}]`,
  );
  const lines = [`## \`${[name, ...args].join(' ')}\``, '', command.description(), ''];
  const options = command.options.filter((option) => !option.hidden);
  if (options.length > 0) {
    lines.push('| flag | environment variable | default | meaning |', '|---|---|---|---|');
    for (const option of options) {
      lines.push(
        `| \`${option.flags}\` | ${option.envVar ? `\`${option.envVar}\`` : ''} | ${code(defaultOf(option))} | ${markdownCell(describeOption(option))} |`,
      );
    }
    lines.push('');
  }
  for (const sub of command.commands) lines.push(...renderCommand(sub, [...path, command.name()]));
  return lines;
}

export function renderCliReference(program: Command): string {
  const lines = [
    '# Command-line reference',
    '',
    '<!-- Generated from the CLI definitions by `npm run docs:cli`; a test fails when it is out of date. -->',
    '',
    'Every flag can also be set with the environment variable shown (a flag wins over its variable).',
    'Secrets are never flags: they come from the environment variables named in the descriptions, or from',
    'a file named by the same variable with `_FILE` appended.',
    '',
  ];
  for (const command of program.commands) lines.push(...renderCommand(command, [program.name()]));
  return `${lines.join('\n').trimEnd()}\n`;
}
