/**
 * The thin client used by scripts/run-mp-test.sh around the `temporal` CLI:
 *   cli.js input --workflow-id ID   validate the environment (the reference's variable names) and print the
 *                                   workflow input as JSON; bad input exits 2 naming each bad variable/field
 *   cli.js results-dir --workflow-id ID   print where that run's results will be
 *   cli.js summary REPORT_JSON      print a run's report as a table for a terminal
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigFromEnv } from '../config/env.js';
import { InvalidConfigError } from '../config/schema.js';
import { renderSummaryTable } from '../report/render.js';
import type { RunReport } from '../verification/types.js';

function main(argv: string[]): number {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { 'workflow-id': { type: 'string' } } });
  const [command, file] = positionals;
  const workflowId = values['workflow-id'];
  if ((command === 'input' || command === 'results-dir') && workflowId) {
    const { input, config } = loadConfigFromEnv(process.env, workflowId);
    process.stdout.write(`${command === 'input' ? JSON.stringify(input) : config.resultsDir}\n`);
    return 0;
  }
  if (command === 'summary' && file) {
    const report = JSON.parse(readFileSync(file, 'utf8')) as RunReport;
    process.stdout.write(`${renderSummaryTable(report)}\n`);
    return report.passed ? 0 : 1;
  }
  process.stderr.write('usage: cli.js input|results-dir --workflow-id ID | cli.js summary REPORT_JSON\n');
  return 2;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  if (error instanceof InvalidConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 2;
  } else {
    throw error;
  }
}
