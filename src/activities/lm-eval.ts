/**
 * Stage "lm_eval" (correctness): GSM8K-style evaluation twice against vLLM with LMCache — the second run is
 * served from cached KV — then the two runs' samples must be identical after sorting their lines. Between the
 * runs vLLM's own prefix cache is emptied, so that the KV the second run reuses comes from LMCache: otherwise
 * the shared few-shot prefix would always be found on the GPU and LMCache's retrieves would go untested.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { lmEvalCommand } from '../commands/tools.js';
import { lmcacheMetricsPort, placedConfig } from '../placement/placement.js';
import { pickSamplesFile, verifyLmEvalSamples } from '../verification/lm-eval.js';
import { lmEvalServed } from '../verification/lmcache-evidence.js';
import { concludeBenchmark, evidenceSettings, type BenchmarkOutcome } from './benchmark.js';
import { emptyCaches, isRetriedAttempt, type BenchmarkInput } from './cold-caches.js';
import { countingLmcache, readChunkTokens } from './lmcache-metrics.js';
import type { LmcacheCounterReading } from '../report/types.js';
import { httpPost } from './probes.js';
import { runTool, toolPaths } from './run-tool.js';
import { lmEvalProgress } from '../verification/tool-progress.js';

export const LM_EVAL_RUNS = ['first_run', 'second_run'] as const;

async function readSamples(outputPath: string, task: string): Promise<{ path: string; text: string } | undefined> {
  const files = (await readdir(outputPath, { recursive: true })).map(String);
  const chosen = pickSamplesFile(files, task);
  if (!chosen) return undefined;
  const file = path.join(outputPath, chosen);
  return { path: file, text: await readFile(file, 'utf8') };
}

export async function runLmEval(input: BenchmarkInput): Promise<BenchmarkOutcome> {
  const { workflowId } = input;
  const config = placedConfig(input.config, input.placement);
  // Its second run is meant to be the one served from cache, so a retry's first run must not be.
  if (isRetriedAttempt(input)) await emptyCaches({ ...input, config });
  const stageDir = path.join(config.resultsDir, 'lm_eval');
  const samples = [];
  // Both runs are against vLLM with LMCache: the second one's hit tokens show the cache serving it.
  const lmcacheCounters: LmcacheCounterReading[] = [];
  for (const run of LM_EVAL_RUNS) {
    if (run === 'second_run') await httpPost(`http://127.0.0.1:${config.vllmPort}/reset_prefix_cache`);
    const outputPath = path.join(stageDir, run);
    // A retried attempt starts clean, so an old samples file can never stand in for a new one.
    await rm(outputPath, { recursive: true, force: true });
    await mkdir(outputPath, { recursive: true });
    await countingLmcache(lmcacheMetricsPort(config, input.placement), run, lmcacheCounters, () =>
      runTool(lmEvalCommand(config, toolPaths(config), outputPath), {
        label: `lm_eval ${run}`,
        progress: lmEvalProgress,
        logFile: path.join(stageDir, `${run}.log`),
        workflowId,
      }),
    );
    samples.push(await readSamples(outputPath, config.lmEvalTask));
  }
  const served = lmEvalServed(
    lmcacheCounters,
    await readChunkTokens(input.config, input.placement),
    evidenceSettings(config),
  );
  return concludeBenchmark('lm_eval', {
    checks: [...verifyLmEvalSamples(samples[0], samples[1]), served],
    lmcacheCounters,
  });
}
