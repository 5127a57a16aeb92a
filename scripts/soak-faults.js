#!/usr/bin/env node
// `npm run test:faults`: soaks every fault scenario (test/faults/scenarios.ts) for --rounds rounds
// (default 10) and prints the table of docs/coordination.md. Exit 1 if any round had a problem.
// Pass name fragments to soak a subset: `npm run test:faults -- --rounds 3 SIGKILL`.
import { formatTable, runRound, SCENARIOS } from '../dist/test/faults/scenarios.js';

const args = process.argv.slice(2);
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 10;
const filters = args.filter((arg, i) => arg !== '--rounds' && i !== roundsAt + 1);
const scenarios = SCENARIOS.filter((s) => filters.length === 0 || filters.some((f) => s.name.includes(f)));
const reports = [];
for (const scenario of scenarios) {
  for (let round = 1; round <= rounds; round++) {
    const report = await runRound(scenario, round);
    reports.push(report);
    const status = report.problems.length === 0 ? 'ok' : `PROBLEMS: ${report.problems.slice(0, 3).join('; ')}`;
    console.error(`${scenario.name} round ${round}: ${status}`);
  }
}
console.log(formatTable(reports));
process.exit(reports.some((report) => report.problems.length > 0) ? 1 : 0);
