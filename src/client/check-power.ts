/**
 * scripts/check-power.sh: how often the performance verdicts are wrong under noise, measured in the sim. For each
 * condition (noise without a defect: false alarms; noise with a defect just past a limit: detection) it launches
 * the servers once, then runs the vllm_bench and long_doc_qa stages TRIALS times, each trial on emptied caches
 * with fresh prompts (as a retried stage does). Each trial is judged under the single-sample rule (its first
 * samples) and the grey-zone rule (the same trial's medians); one JSON line per rule and condition goes to stdout.
 *
 * The activities run here as they do in a worker, in an activity context of their own (no workflow: a trial is
 * a stage run again on the same servers, which the workflow does not offer outside a held run).
 */
import { appendFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { buildImage } from '../activities/build.js';
import { cleanupContainers } from '../activities/cleanup.js';
import { waitForHealth } from '../activities/health.js';
import { launchContainers } from '../activities/launch.js';
import { runLongDocQa } from '../activities/long-doc-qa.js';
import { runVllmBench } from '../activities/vllm-bench.js';
import { inputFromEnv } from '../config/env.js';
import { resolveConfig, type Config, type ConfigInput } from '../config/schema.js';
import { formatNumber } from '../verification/format.js';
import {
  isPerformanceCheck,
  judgeTrial,
  powerLines,
  type StageTrial,
  type TrialVerdict,
} from '../verification/power.js';

/**
 * A light workload, so that 30 trials of two conditions take about 20 minutes on a shared 2-core machine; any of
 * these set in the environment wins.
 */
const LIGHT_WORKLOAD: ConfigInput = {
  numPrompts: 8,
  randomInputLen: 1000,
  numDocuments: 4,
  simGpuCacheTokens: 4000,
  simStartupSeconds: 0,
};
const DEFAULT_TRIALS = 30;
const DEFAULT_NOISE_PERCENT = 3;
/** 3 points past the 5 % throughput limit: a regression the suite should catch. */
const DEFAULT_DEFECT = 'slow-store:8';

/** Only warnings and errors of the activities reach stderr: the trials' own lines are the progress to read. */
const quietLogger = new DefaultLogger('WARN');

function activity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment(undefined, { logger: quietLogger }).run(fn, ...args);
}

/** Four ports free at once (the two vLLM servers, LMCache and its HTTP frontend; host networking). */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    servers.push(server);
  }
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name]?.trim();
  if (!text) return fallback;
  if (!/^[1-9][0-9]*$/.test(text)) throw new Error(`${name}=${JSON.stringify(text)} must be an integer >= 1`);
  return Number(text);
}

async function condition(base: ConfigInput, defect: string, trials: number): Promise<TrialVerdict[]> {
  const [vllmPort, vllmBaselinePort, lmcachePort, lmcacheHttpPort] = await freePorts(4);
  const workflowId = `check-power-${defect.replace(/[^a-z0-9-]/gi, '_')}-${process.pid}`;
  const config: Config = resolveConfig(
    { ...base, simDefect: defect, vllmPort, vllmBaselinePort, lmcachePort, lmcacheHttpPort, buildId: workflowId },
    { workflowId },
  );
  const input = { config, workflowId };
  const verdicts: TrialVerdict[] = [];
  // Every trial's figures, so that another rule (a narrower zone, fewer repeats) can be judged on the same samples.
  const trialsFile = path.join(config.resultsDir, 'check-power-trials.jsonl');
  try {
    await activity(launchContainers, input);
    await activity(waitForHealth, input);
    for (let trial = 1; trial <= trials; trial++) {
      // retry = trial: emptied caches and a seed of its own, as a retried stage gets (src/activities/cold-caches.ts).
      const stages: StageTrial[] = [];
      for (const stage of [runVllmBench, runLongDocQa]) {
        const started = performance.now();
        const outcome = await activity(stage, { ...input, retry: trial });
        stages.push({ checks: outcome.checks, seconds: (performance.now() - started) / 1000 });
      }
      const verdict = judgeTrial(stages);
      verdicts.push(verdict);
      const checks = stages.flatMap((stage) => stage.checks);
      const performanceChecks = checks
        .filter(isPerformanceCheck)
        .map(({ name, passed, value, limit, samples }) => ({ name, passed, value, limit, samples }));
      await appendFile(trialsFile, `${JSON.stringify({ defect, trial, ...verdict, checks: performanceChecks })}\n`);
      const figures = checks
        .filter((check) => check.samples)
        .map((check) => `${check.name} ${check.samples!.values.map((value) => formatNumber(value)).join(', ')}`);
      process.stderr.write(
        `check-power: ${defect} trial ${trial}/${trials}: single ${verdict.singleFailed ? 'FAIL' : 'pass'}, ` +
          `grey ${verdict.greyFailed ? 'FAIL' : 'pass'}, ${verdict.greySeconds.toFixed(1)} s` +
          `${figures.length > 0 ? ` (${figures.join(', ')})` : ''}` +
          `${verdict.otherFailures.length > 0 ? `; other failed checks: ${verdict.otherFailures.join(', ')}` : ''}\n`,
      );
    }
  } finally {
    await activity(cleanupContainers, { workflowId, resultsDir: config.resultsDir });
  }
  process.stderr.write(`check-power: ${defect}: every trial's figures are in ${trialsFile}\n`);
  return verdicts;
}

async function main(): Promise<void> {
  const trials = positiveInteger('TRIALS', DEFAULT_TRIALS);
  const env = { SIM_NOISE_PERCENT: String(DEFAULT_NOISE_PERCENT), ...process.env };
  const base: ConfigInput = { ...LIGHT_WORKLOAD, ...inputFromEnv(env), profile: 'sim' };
  const defect = process.env.POWER_DEFECT?.trim() || DEFAULT_DEFECT;
  await activity(buildImage, resolveConfig(base, { workflowId: `check-power-build-${process.pid}` }));
  for (const simDefect of ['none', defect]) {
    const verdicts = await condition(base, simDefect, trials);
    for (const line of powerLines(base.simNoisePercent ?? 0, simDefect, verdicts)) {
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`check-power: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
