/**
 * Stage "vllm_bench" (throughput): `vllm bench serve` with random prompts, baseline first (so warm-up never
 * favours LMCache), then vLLM with LMCache, same seed, each after measuring its server's chat frame; then the
 * completion, token count and throughput checks. A throughput ratio in the grey zone is measured again, pair by
 * pair (B L B L …), and decided by its median (src/verification/grey-zone.ts).
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { benchServeCommand } from '../commands/tools.js';
import type { Config } from '../config/schema.js';
import { placedConfig } from '../placement/placement.js';
import {
  medianThroughputCheck,
  parseBenchResult,
  throughputRatioPercent,
  verifyBench,
  withRepeatsVerified,
  type BenchRuns,
} from '../verification/vllm-bench.js';
import { ratioFigure, sampleUntilDecided, type Measured } from '../verification/grey-zone.js';
import { writeTokenizer } from '../sim/write-tokenizer.js';
import { activityInfo, log } from '@temporalio/activity';
import { baselineIsolated, vllmBenchStored } from '../verification/lmcache-evidence.js';
import {
  baselineThenLmcache,
  concludeBenchmark,
  evidenceSettings,
  runSide,
  withSimNoise,
  type BenchmarkOutcome,
} from './benchmark.js';
import type { LmcacheCounterReading } from '../report/types.js';
import { attemptSeed, emptyCaches, isRetriedAttempt, type BenchmarkInput } from './cold-caches.js';
import { chatFrameTokens } from './chat-frame.js';
import { runTool, toolPaths } from './run-tool.js';
import { resolveNodePath } from '../node-paths.js';
import { benchProgress } from '../verification/tool-progress.js';

/**
 * TOKENIZER when given; in sim, the sim model's tokenizer files (written into the results, so the run shows
 * what counted its tokens); on a GPU node, none: the tool loads the model's own.
 */
function benchTokenizer(config: Config, resultDir: string): string | undefined {
  if (config.tokenizer !== '') return resolveTokenizer(config.tokenizer);
  if (config.profile !== 'sim') return undefined;
  const directory = path.join(resultDir, 'sim-tokenizer');
  writeTokenizer(directory);
  return directory;
}

/** A tokenizer knob is a hub name ("org/name") or a path on the worker's node. */
function resolveTokenizer(value: string): string {
  return value.startsWith('.') || value.startsWith('/') || value.startsWith('~') ? resolveNodePath(value) : value;
}

/**
 * A grey-zone repeat's seed: this far from the attempt's, so no retry's or retryStage's seed (1 and 1000 apart,
 * see ./cold-caches.ts) meets it.
 */
const REPEAT_SEED_STEP = 100_000;

export async function runVllmBench(input: BenchmarkInput): Promise<BenchmarkOutcome> {
  const placed = placedConfig(input.config, input.placement);
  // A retry sends new prompts to emptied caches: the failed attempt's prompts would be LMCache hits.
  if (isRetriedAttempt(input)) await emptyCaches({ ...input, config: placed });
  const seed = attemptSeed(placed.randomSeed, input, activityInfo().attempt);
  const config = { ...placed, randomSeed: seed };
  const resultDir = path.join(config.resultsDir, 'vllm_bench');
  await mkdir(resultDir, { recursive: true });
  const tokenizer = benchTokenizer(config, resultDir);
  const lmcacheCounters: LmcacheCounterReading[] = [];
  const pair = { input, resultDir, tokenizer };
  const first = await timedPair(() => benchPair(config, pair, '', lmcacheCounters));
  const limits = {
    numPrompts: config.numPrompts,
    randomInputLen: config.randomInputLen,
    maxSlowdownPercent: config.maxThroughputSlowdownPercent,
    tokenCountTolerancePercent: config.tokenCountTolerancePercent,
  };
  let checks = verifyBench(first.sample, limits);
  // Only a ratio that was measured can be measured again: without one the throughput check has failed already.
  if (throughputRatioPercent(first.sample) !== null) {
    const rule = { greyZonePercent: config.greyZonePercent, maxRepeats: config.maxRepeats };
    const figure = ratioFigure(100 - config.maxThroughputSlowdownPercent, rule);
    const of = (runs: BenchRuns) => throughputRatioPercent(runs) ?? 0;
    // Each repeat is a fresh pair, baseline then LMCache, on emptied caches and new prompts, as a retry is.
    const sampled = await sampleUntilDecided(first, [{ figure, of }], rule, (repeat) =>
      timedPair(async () => {
        await emptyCaches({ ...input, config: placed });
        const repeatConfig = { ...config, randomSeed: seed + REPEAT_SEED_STEP * repeat };
        return benchPair(repeatConfig, pair, `-repeat${repeat}`, []);
      }),
    );
    if (sampled.samples.length > 1) {
      const median = medianThroughputCheck(sampled.samples, figure, sampled.reasons, sampled.seconds, seed);
      checks = withRepeatsVerified(checks, sampled.samples.slice(1), limits).map((check) =>
        check.name === median.name ? median : check,
      );
    }
  }
  const evidence = evidenceSettings(config);
  return concludeBenchmark('vllm_bench', {
    checks: [
      ...checks.map((check) => (check.name === 'vllm_bench.throughput' ? withSimNoise(check, placed) : check)),
      vllmBenchStored(lmcacheCounters, config.numPrompts, evidence),
      baselineIsolated('vllm_bench', lmcacheCounters, evidence),
    ],
    seed,
    lmcacheCounters,
  });
}

async function timedPair(measure: () => Promise<BenchRuns>): Promise<Measured<BenchRuns>> {
  const started = performance.now();
  const sample = await measure();
  return { sample, seconds: (performance.now() - started) / 1000 };
}

/**
 * One baseline run then one LMCache run of `vllm bench serve` on `config`'s seed; `suffix` names a repeat's files
 * (baseline-repeat1.json). The LMCache side is read between LMCache counter readings into `counters`.
 */
async function benchPair(
  config: Config,
  pair: { input: BenchmarkInput; resultDir: string; tokenizer: string | undefined },
  suffix: string,
  counters: LmcacheCounterReading[],
): Promise<BenchRuns> {
  const { input, resultDir, tokenizer } = pair;
  const runs: BenchRuns = {};
  for (const [run, port] of baselineThenLmcache(config)) {
    // Before the tool: what the server's chat template adds to each prompt's count (see ./chat-frame.ts).
    const frame = await chatFrameTokens(port, config.model);
    log.info('chat frame measured', { run, port, tokens: frame });
    const resultFilename = `${run}${suffix}.json`;
    const bench = () =>
      runTool(benchServeCommand(config, toolPaths(config), { port, resultDir, resultFilename, tokenizer }), {
        label: `vllm bench serve ${run}${suffix}`,
        progress: benchProgress,
        logFile: path.join(resultDir, `${run}${suffix}.log`),
        workflowId: input.workflowId,
      });
    await runSide(run, input, counters, bench);
    const file = path.join(resultDir, resultFilename);
    runs[run] = { result: parseBenchResult(await readFile(file, 'utf8'), file), chatFrameTokens: frame };
  }
  return runs;
}
