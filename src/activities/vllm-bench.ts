/**
 * Stage "vllm_bench" (throughput): `vllm bench serve` with random prompts, baseline first (so warm-up never
 * favours LMCache), then vLLM with LMCache, same seed, each after measuring its server's chat frame; then the
 * completion, token count and throughput checks.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { benchServeCommand } from '../commands/tools.js';
import type { Config } from '../config/schema.js';
import { placedConfig } from '../placement/placement.js';
import { parseBenchResult, verifyBench, type BenchRuns } from '../verification/vllm-bench.js';
import { writeTokenizer } from '../sim/write-tokenizer.js';
import { activityInfo, log } from '@temporalio/activity';
import { baselineIsolated, vllmBenchStored } from '../verification/lmcache-evidence.js';
import {
  baselineThenLmcache,
  concludeBenchmark,
  evidenceSettings,
  runSide,
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

export async function runVllmBench(input: BenchmarkInput): Promise<BenchmarkOutcome> {
  const { workflowId } = input;
  const placed = placedConfig(input.config, input.placement);
  // A retry sends new prompts to emptied caches: the failed attempt's prompts would be LMCache hits.
  if (isRetriedAttempt(input)) await emptyCaches({ ...input, config: placed });
  const seed = attemptSeed(placed.randomSeed, input, activityInfo().attempt);
  const config = { ...placed, randomSeed: seed };
  const resultDir = path.join(config.resultsDir, 'vllm_bench');
  await mkdir(resultDir, { recursive: true });
  const tokenizer = benchTokenizer(config, resultDir);
  const runs: BenchRuns = {};
  const lmcacheCounters: LmcacheCounterReading[] = [];
  for (const [run, port] of baselineThenLmcache(config)) {
    // Before the tool: what the server's chat template adds to each prompt's count (see ./chat-frame.ts).
    const frame = await chatFrameTokens(port, config.model);
    log.info('chat frame measured', { run, port, tokens: frame });
    const resultFilename = `${run}.json`;
    const bench = () =>
      runTool(benchServeCommand(config, toolPaths(config), { port, resultDir, resultFilename, tokenizer }), {
        label: `vllm bench serve ${run}`,
        progress: benchProgress,
        logFile: path.join(resultDir, `${run}.log`),
        workflowId,
      });
    await runSide(run, input, lmcacheCounters, bench);
    const file = path.join(resultDir, resultFilename);
    runs[run] = { result: parseBenchResult(await readFile(file, 'utf8'), file), chatFrameTokens: frame };
  }
  const evidence = evidenceSettings(config);
  return concludeBenchmark('vllm_bench', {
    checks: [
      ...verifyBench(runs, {
        numPrompts: config.numPrompts,
        randomInputLen: config.randomInputLen,
        maxSlowdownPercent: config.maxThroughputSlowdownPercent,
        tokenCountTolerancePercent: config.tokenCountTolerancePercent,
      }),
      vllmBenchStored(lmcacheCounters, config.numPrompts, evidence),
      baselineIsolated('vllm_bench', lmcacheCounters, evidence),
    ],
    seed,
    lmcacheCounters,
  });
}
