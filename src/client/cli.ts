/**
 * The thin client used by scripts/run-mp-test.sh around the `temporal` CLI:
 *   cli.js input --workflow-id ID   validate the environment (the reference's variable names) and print the
 *                                   workflow input as JSON; bad input (a test script missing or not executable,
 *                                   a gpu checkout or model path missing here) exits 2 naming each bad variable/field
 *   cli.js results-dir --workflow-id ID   print where that run's results will be
 *   cli.js summary REPORT_JSON      print a run's report as a table for a terminal; exits as `verdict` does
 *   cli.js verdict REPORT_JSON      print the verdict in one line, with what retryStage overrode; exit 0 passed,
 *                                   1 failed, 3 passed only with overrides
 *   cli.js timings RESULTS_DIR HISTORY_JSON   stage durations and health-wait lag of one run
 *   cli.js compare-orchestration LABEL RESULTS_DIR HISTORY_JSON LABEL RESULTS_DIR HISTORY_JSON   two runs'
 *                                   hand-over per activity, readiness lag and overhead side by side (bench-cluster.sh)
 *   cli.js overhead HISTORY_JSON    a run's wall time outside its activities, in seconds (scripts/bench-sim.sh)
 *   cli.js janitor [--dry-run]      remove the containers of runs that are no longer running (see janitor.ts)
 *   cli.js doctor                   check this node for what a run with this environment's configuration needs
 *   cli.js static-summary --workflow-id ID   the one-line summary to start a run with (profile, model, build)
 *   cli.js search-attributes        the runs' search attributes as "name type" lines, for registering them
 *   cli.js history [--profile P] [--model M] [--last N] [--out DIR]   past runs, regressions, history.md + charts
 *   cli.js follow --workflow-id ID  a run's progress until it ends, then its summary; exits 0 passed, 1 failed,
 *                                   3 passed with overrides, 4 cancelled (see follow.ts)
 *   cli.js sim-repo COMMITS CULPRIT DEFECT   a git repository of the sim build context whose commit CULPRIT (0-based)
 *                                   plants DEFECT in sim-defect; prints {dir, shas} (scripts/bisect-sim.sh)
 *   cli.js bisect-figures BISECT_JSON WALL_SECONDS CULPRIT_SHA   one JSON line of a sim bisect's figures
 *   cli.js bisect-input GOOD BAD --check NAME | --figure 'FIGURE>LIMIT' --workflow-id ID   the lmcacheMpBisect
 *                                   input from the arguments and the environment (see bisect-input.ts)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { HealthResult } from '../activities/health.js';
import { loadConfigFromEnv } from '../config/env.js';
import { inputFileProblems } from '../config/input-files.js';
import { InvalidConfigError } from '../config/schema.js';
import { resolveNodePath } from '../node-paths.js';
import { renderSummaryTable } from '../report/terminal.js';
import type { RunReport } from '../report/types.js';
import { verdictExitCode, verdictWithOverrides } from '../report/verdict.js';
import { cliTypeName, SEARCH_ATTRIBUTE_KEYS } from '../workflows/search-attributes.js';
import { staticSummary } from '../workflows/run-summary.js';
import { orchestrationOverheadMs, renderOrchestrationComparison, renderTimings } from './timings.js';

const USAGE = [
  'usage: cli.js input|results-dir|static-summary --workflow-id ID',
  '       cli.js summary|verdict REPORT_JSON | timings RESULTS_DIR HISTORY_JSON | overhead HISTORY_JSON',
  '       cli.js janitor [--dry-run]',
  '       cli.js search-attributes | history [--profile P] [--model M] [--last N] [--out DIR] | doctor',
  '       cli.js fleet-figures HISTORY_JSON... (scripts/fleet-sim.sh: FIGURES_JSON, LEASE_DIR)',
  '       cli.js follow --workflow-id ID',
  "       cli.js bisect-input GOOD BAD --check NAME | --figure 'FIGURE>LIMIT' --workflow-id ID",
  '       cli.js sim-repo COMMITS CULPRIT DEFECT | bisect-figures BISECT_JSON WALL_SECONDS CULPRIT_SHA',
].join('\n');

/**
 * REGRESSION_MARGIN_PERCENT and GREY_ZONE_PERCENT, validated by the configuration loader so its message names the
 * variable.
 */
function historyKnobs(env: NodeJS.ProcessEnv): { marginPercent: number; greyZonePercent: number } {
  const only = { REGRESSION_MARGIN_PERCENT: env.REGRESSION_MARGIN_PERCENT, GREY_ZONE_PERCENT: env.GREY_ZONE_PERCENT };
  // Their defaults are the same in both profiles; sim, which needs no LMCache checkout, only gives the check a profile.
  const { config } = loadConfigFromEnv({ ...only, PROFILE: 'sim' }, 'history');
  return { marginPercent: config.regressionMarginPercent, greyZonePercent: config.greyZonePercent };
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'workflow-id': { type: 'string' },
      'dry-run': { type: 'boolean' },
      profile: { type: 'string' },
      model: { type: 'string' },
      last: { type: 'string', default: '20' },
      out: { type: 'string', default: 'history' },
      check: { type: 'string' },
      figure: { type: 'string' },
    },
  });
  const [command, file] = positionals;
  const workflowId = values['workflow-id'];
  if ((command === 'input' || command === 'results-dir' || command === 'static-summary') && workflowId) {
    const { input, config } = loadConfigFromEnv(process.env, workflowId);
    if (command === 'input') {
      const problems = await inputFileProblems(config);
      if (problems.length > 0) throw new InvalidConfigError(problems);
    }
    const outputs = {
      input: JSON.stringify(input),
      'results-dir': config.resultsDir,
      'static-summary': staticSummary(config),
    };
    const output = outputs[command];
    process.stdout.write(`${output}\n`);
    return 0;
  }
  if (command === 'search-attributes') {
    process.stdout.write(SEARCH_ATTRIBUTE_KEYS.map((key) => `${key.name} ${cliTypeName(key)}\n`).join(''));
    return 0;
  }
  if (command === 'history') {
    const last = Number(values.last);
    if (!Number.isInteger(last) || last < 1) {
      process.stderr.write(`--last: expected a positive integer, got ${JSON.stringify(values.last)}\n`);
      return 2;
    }
    const knobs = historyKnobs(process.env);
    const { runHistory } = await import('./history.js');
    try {
      await runHistory(
        process.env,
        { filter: { profile: values.profile, model: values.model }, last, outDir: values.out!, ...knobs },
        (line) => process.stdout.write(`${line}\n`),
      );
    } catch (error) {
      const address = process.env.TEMPORAL_ADDRESS || 'localhost:7233';
      process.stderr.write(`history: cannot read runs from Temporal at ${address}: ${(error as Error).message}\n`);
      return 1;
    }
    return 0;
  }
  if ((command === 'summary' || command === 'verdict') && file) {
    const report = JSON.parse(readFileSync(file, 'utf8')) as RunReport;
    process.stdout.write(`${command === 'summary' ? renderSummaryTable(report) : verdictWithOverrides(report)}\n`);
    return verdictExitCode(report);
  }
  if (command === 'timings' && file && positionals[2]) {
    const report = JSON.parse(readFileSync(path.join(file, 'report.json'), 'utf8')) as RunReport;
    const healthFile = path.join(file, 'health.json');
    const health = existsSync(healthFile) ? (JSON.parse(readFileSync(healthFile, 'utf8')) as HealthResult) : undefined;
    const history = JSON.parse(readFileSync(positionals[2], 'utf8')) as { events: Parameters<typeof renderTimings>[2] };
    process.stdout.write(`${renderTimings(report, health, history.events)}\n`);
    return 0;
  }
  if (command === 'compare-orchestration' && positionals.length === 7) {
    const figures = (label: string, resultsDir: string, historyJson: string) => {
      const healthFile = path.join(resultsDir, 'health.json');
      return {
        label,
        report: JSON.parse(readFileSync(path.join(resultsDir, 'report.json'), 'utf8')) as RunReport,
        health: existsSync(healthFile) ? (JSON.parse(readFileSync(healthFile, 'utf8')) as HealthResult) : undefined,
        events: (JSON.parse(readFileSync(historyJson, 'utf8')) as { events: Parameters<typeof renderTimings>[2] })
          .events,
      };
    };
    const [, labelA, dirA, historyA, labelB, dirB, historyB] = positionals as [string, ...string[]];
    const comparison = renderOrchestrationComparison(
      figures(labelA!, dirA!, historyA!),
      figures(labelB!, dirB!, historyB!),
    );
    process.stdout.write(`${comparison}\n`);
    return 0;
  }
  if (command === 'overhead' && file) {
    const history = JSON.parse(readFileSync(file, 'utf8')) as { events: Parameters<typeof renderTimings>[2] };
    process.stdout.write(`${(orchestrationOverheadMs(history.events) / 1000).toFixed(1)}\n`);
    return 0;
  }
  if (command === 'fleet-figures') {
    // scripts/fleet-sim.sh: FIGURES_JSON (what the script measured) and the histories of the concurrent runs.
    const { crossNodeStages, leaseOf, leaseOverlaps } = await import('./fleet.js');
    const { containersOf } = await import('../docker/containers.js');
    const { leaseHolders } = await import('../placement/leases.js');
    const histories = positionals.slice(1).map((f) => ({ file: f, ...JSON.parse(readFileSync(f, 'utf8')) }));
    const ids = histories.map((h) => path.basename(h.file, '.json'));
    const leases = histories.flatMap((h, i) => leaseOf(ids[i]!, h.events) ?? []);
    const crossed = histories.flatMap((h) => crossNodeStages(h.events));
    for (const line of crossed) process.stderr.write(`cross-node stage: ${line}\n`);
    const overlaps = leaseOverlaps(leases);
    const leftContainers = (await containersOf()).filter((c) => ids.includes(c.workflowId));
    const leaseDir = process.env.LEASE_DIR ?? '';
    const leftLeases = leaseDir
      ? (await Promise.all(readdirSync(leaseDir).map((node) => leaseHolders(path.join(leaseDir, node))))).flat()
      : [];
    const measured = JSON.parse(process.env.FIGURES_JSON ?? '{}') as Record<string, number>;
    const figures = {
      nodes: measured.nodes,
      runs: measured.runs,
      passed: measured.passed,
      leasedRuns: leases.length,
      gpuOverlaps: overlaps.gpu,
      portOverlaps: overlaps.port,
      crossNodeStages: crossed.length,
      leakedContainers: leftContainers.length,
      leakedLeases: leftLeases.length,
      wallSeconds: measured.wallSeconds,
      oneRunSeconds: measured.oneRunSeconds,
    };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
    return 0;
  }
  if (command === 'doctor') {
    const { input, config } = loadConfigFromEnv(process.env, 'doctor');
    const { renderDoctor, runDoctor } = await import('../doctor/checks.js');
    const { nodeSettings } = await import('../placement/node.js');
    const { pinnedPortsOf } = await import('../placement/placement.js');
    const checks = await runDoctor(config, {
      resolvePath: resolveNodePath,
      node: nodeSettings(),
      pinnedPorts: pinnedPortsOf(input),
    });
    process.stdout.write(
      `preflight for PROFILE=${config.profile} BENCHMARK_DRIVER=${config.benchmarkDriver}\n${renderDoctor(checks)}\n`,
    );
    const failed = checks.filter((check) => !check.ok).length;
    process.stdout.write(failed === 0 ? 'all checks passed\n' : `${failed} check(s) failed\n`);
    return failed === 0 ? 0 : 1;
  }
  if (command === 'follow' && workflowId) {
    const { followRun } = await import('./follow.js');
    try {
      return await followRun(process.env, {
        workflowId,
        write: (text) => process.stdout.write(text),
        isTty: process.stdout.isTTY === true,
        columns: process.stdout.columns,
      });
    } catch (error) {
      process.stderr.write(`follow: cannot follow ${workflowId}: ${(error as Error).message}\n`);
      return 2;
    }
  }
  if (command === 'bisect-input' && workflowId) {
    const { bisectInput } = await import('./bisect-input.js');
    const [, good, bad] = positionals;
    const input = bisectInput({ good, bad, check: values.check, figure: values.figure }, process.env, workflowId);
    process.stdout.write(`${JSON.stringify(input)}\n`);
    return 0;
  }
  if (command === 'sim-repo' && positionals.length === 4) {
    const [, commits, culprit, defect] = positionals;
    if (!/^[1-9]\d*$/.test(commits!) || !/^\d+$/.test(culprit!) || Number(culprit) >= Number(commits)) {
      throw new InvalidConfigError([
        `sim-repo: COMMITS (${commits}) must be >= 1 and CULPRIT (${culprit}) one of 0..COMMITS-1`,
      ]);
    }
    const { makeSimRepo } = await import('./sim-repo.js');
    const repo = await makeSimRepo({ commits: Number(commits), defectAt: { [Number(culprit)]: defect! } });
    process.stdout.write(`${JSON.stringify(repo)}\n`);
    return 0;
  }
  if (command === 'bisect-figures' && positionals.length === 4) {
    const { bisectFigures } = await import('./bisect-figures.js');
    const [, bisectJson, wall, culprit] = positionals;
    process.stdout.write(`${JSON.stringify(await bisectFigures(bisectJson!, Number(wall), culprit!))}\n`);
    return 0;
  }
  if (command === 'janitor') {
    // Loaded on demand: the Temporal client and Docker modules would only slow the other commands down.
    const { runJanitor } = await import('./janitor.js');
    await runJanitor(process.env, {
      dryRun: values['dry-run'] ?? false,
      log: (line) => process.stdout.write(`${line}\n`),
    });
    return 0;
  }
  process.stderr.write(`${USAGE}\n`);
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
