// The test runner's reporter for `npm test`: Node's spec reporter, except that the coverage table
// (one row per file, test files included) is replaced by one line for the project's code, src/:
// lines, branches and functions covered, summed over its files. Without --experimental-test-coverage
// it is the spec reporter unchanged. Node 20 has no --test-coverage-include, hence the filter here.
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { spec } from 'node:test/reporters';

/** The one-line summary for the files under src/ (compiled to dist/src/, or mapped back with source maps). */
export function coverageSummary(files, cwd = process.cwd()) {
  const totals = { lines: [0, 0], branches: [0, 0], functions: [0, 0] };
  let count = 0;
  for (const file of files) {
    const path = relative(cwd, file.path).split(sep).join('/');
    if (!(path.startsWith('src/') || path.startsWith('dist/src/'))) continue;
    count++;
    totals.lines[0] += file.coveredLineCount;
    totals.lines[1] += file.totalLineCount;
    totals.branches[0] += file.coveredBranchCount;
    totals.branches[1] += file.totalBranchCount;
    totals.functions[0] += file.coveredFunctionCount;
    totals.functions[1] += file.totalFunctionCount;
  }
  const part = (name) => {
    const [covered, total] = totals[name];
    const percent = total === 0 ? 100 : (100 * covered) / total;
    return `${name} ${percent.toFixed(1)} % (${covered}/${total})`;
  };
  // Node counts only the files some test loaded; say how many of src/'s that is.
  const compiled = countJs(join(cwd, 'dist', 'src'));
  const loaded = compiled > 0 ? `${count} of ${compiled} files loaded` : `${count} files`;
  return `coverage of src/ (${loaded}, Node ${process.version}): ${part('lines')}, ${part('branches')}, ${part('functions')}\n`;
}

function countJs(dir) {
  let count = 0;
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) count += countJs(join(dir, entry.name));
      else if (entry.name.endsWith('.js')) count++;
    }
  } catch {
    return 0;
  }
  return count;
}

const reporter = new spec();
const specTransform = reporter._transform.bind(reporter);
reporter._transform = (event, encoding, callback) => {
  if (event.type === 'test:coverage') {
    callback(null, `\n${coverageSummary(event.data.summary.files)}`);
    return;
  }
  specTransform(event, encoding, callback);
};

export default reporter;
