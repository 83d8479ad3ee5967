/**
 * The thin client used by scripts/run-mp-test.sh around the `temporal` CLI:
 *   cli.js input --workflow-id ID   validate the environment (the reference's variable names) and print the
 *                                   workflow input as JSON; bad input (a test script missing or not executable
 *                                   here included) exits 2 naming each bad variable/field
 *   cli.js results-dir --workflow-id ID   print where that run's results will be
 *   cli.js summary REPORT_JSON      print a run's report as a table for a terminal
 *   cli.js timings RESULTS_DIR HISTORY_JSON   stage durations and health-wait lag of one run
 *   cli.js janitor [--dry-run]      remove the containers of runs that are no longer running (see janitor.ts)
 *   cli.js doctor                   check this node for what a run with this environment's configuration needs
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { HealthResult } from '../activities/health.js';
import { loadConfigFromEnv } from '../config/env.js';
import { scriptFileProblems } from '../config/script-files.js';
import { InvalidConfigError } from '../config/schema.js';
import { resolveNodePath } from '../activities/stage.js';
import { renderSummaryTable } from '../report/render.js';
import type { RunReport } from '../report/types.js';
import { renderTimings } from './timings.js';

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'workflow-id': { type: 'string' }, 'dry-run': { type: 'boolean' } },
  });
  const [command, file] = positionals;
  const workflowId = values['workflow-id'];
  if ((command === 'input' || command === 'results-dir') && workflowId) {
    const { input, config } = loadConfigFromEnv(process.env, workflowId);
    if (command === 'input') {
      const problems = await scriptFileProblems(config);
      if (problems.length > 0) throw new InvalidConfigError(problems);
    }
    process.stdout.write(`${command === 'input' ? JSON.stringify(input) : config.resultsDir}\n`);
    return 0;
  }
  if (command === 'summary' && file) {
    const report = JSON.parse(readFileSync(file, 'utf8')) as RunReport;
    process.stdout.write(`${renderSummaryTable(report)}\n`);
    return report.passed ? 0 : 1;
  }
  if (command === 'timings' && file && positionals[2]) {
    const report = JSON.parse(readFileSync(path.join(file, 'report.json'), 'utf8')) as RunReport;
    const healthFile = path.join(file, 'health.json');
    const health = existsSync(healthFile) ? (JSON.parse(readFileSync(healthFile, 'utf8')) as HealthResult) : undefined;
    const history = JSON.parse(readFileSync(positionals[2], 'utf8')) as { events: Parameters<typeof renderTimings>[2] };
    process.stdout.write(`${renderTimings(report, health, history.events)}\n`);
    return 0;
  }
  if (command === 'doctor') {
    const { config } = loadConfigFromEnv(process.env, 'doctor');
    const { renderDoctor, runDoctor } = await import('../doctor/checks.js');
    const checks = await runDoctor(config, { resolvePath: resolveNodePath });
    process.stdout.write(`preflight for PROFILE=${config.profile} BENCHMARK_DRIVER=${config.benchmarkDriver}\n${renderDoctor(checks)}\n`);
    const failed = checks.filter((check) => !check.ok).length;
    process.stdout.write(failed === 0 ? 'all checks passed\n' : `${failed} check(s) failed\n`);
    return failed === 0 ? 0 : 1;
  }
  if (command === 'janitor') {
    // Loaded on demand: the Temporal client and Docker modules would only slow the other commands down.
    const { runJanitor } = await import('./janitor.js');
    await runJanitor(process.env, { dryRun: values['dry-run'] ?? false, log: (line) => process.stdout.write(`${line}\n`) });
    return 0;
  }
  process.stderr.write('usage: cli.js input|results-dir --workflow-id ID | summary REPORT_JSON | timings RESULTS_DIR HISTORY_JSON | janitor [--dry-run] | doctor\n');
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof InvalidConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 2;
  } else {
    throw error;
  }
}
