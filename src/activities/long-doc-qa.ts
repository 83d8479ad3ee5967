/**
 * Stage "long_doc_qa" (latency): LMCache's long document QA benchmark, baseline first, then vLLM with
 * LMCache; the LMCache run's query TTFT and round time are held to their limits (the LMCache side run again
 * while one is in the grey zone, src/verification/grey-zone.ts), and a side-by-side table against the baseline is
 * kept for people.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { longDocQaCommand } from '../commands/tools.js';
import { placedConfig } from '../placement/placement.js';
import { renderComparisonTable } from '../report/markdown.js';
import {
  comparisonRows,
  latencyFigures,
  medianLatencyChecks,
  parseLongDocQaStdout,
  verifyLongDocQa,
  type LongDocQaResult,
} from '../verification/long-doc-qa.js';
import { sampleUntilDecided } from '../verification/grey-zone.js';
import type { Config } from '../config/schema.js';
import { baselineIsolated, longDocQaServed } from '../verification/lmcache-evidence.js';
import {
  baselineThenLmcache,
  concludeBenchmark,
  evidenceSettings,
  runSide,
  withSimNoise,
  type BenchmarkOutcome,
} from './benchmark.js';
import { readChunkTokens, readVllmKvCache } from './lmcache-metrics.js';
import { emptyCaches, isRetriedAttempt, type BenchmarkInput } from './cold-caches.js';
import type { LmcacheCounterReading } from '../report/types.js';
import { runTool, toolPaths } from './run-tool.js';
import { longDocQaProgress } from '../verification/tool-progress.js';

export async function runLongDocQa(input: BenchmarkInput): Promise<BenchmarkOutcome> {
  const config = placedConfig(input.config, input.placement);
  // Its query round is meant to hit what the warm-up round cached, not what a failed attempt left behind.
  if (isRetriedAttempt(input)) await emptyCaches({ ...input, config });
  const stageDir = path.join(config.resultsDir, 'long_doc_qa');
  await mkdir(stageDir, { recursive: true });
  const results: { baseline?: LongDocQaResult; lmcache?: LongDocQaResult } = {};
  // One reading over each run, warm-up and query rounds together: the tool is one process.
  const lmcacheCounters: LmcacheCounterReading[] = [];
  const started = performance.now();
  for (const [run, port] of baselineThenLmcache(config)) {
    results[run] = await runSide(run, input, lmcacheCounters, () => askOnce(input, config, run, port, ''));
  }
  const limits = { maxTtft: config.maxLmcacheTtft, maxQueryRoundTime: config.maxLmcacheQueryRoundTime };
  let checks = verifyLongDocQa(results, limits);
  if (results.lmcache && results.lmcache.query_ttft_per_prompt > 0) {
    const rule = { greyZonePercent: config.greyZonePercent, maxRepeats: config.maxRepeats };
    const first = { sample: results.lmcache, seconds: (performance.now() - started) / 1000 };
    // A repeat runs the LMCache side again: its warm-up round finds the documents cached, its query round is the
    // new sample. The baseline is never checked, so it is not measured again.
    const sampled = await sampleUntilDecided(first, latencyFigures(limits, rule), rule, async (repeat) => {
      const repeatStarted = performance.now();
      const sample = await askOnce(input, config, 'lmcache', config.vllmPort, `-repeat${repeat}`);
      return { sample, seconds: (performance.now() - repeatStarted) / 1000 };
    });
    if (sampled.samples.length > 1) {
      checks = medianLatencyChecks(sampled.samples, limits, rule, { ...sampled, seed: config.randomSeed });
    }
  }
  const comparison = comparisonRows(results);
  await writeFile(path.join(stageDir, 'comparison.md'), `${renderComparisonTable(comparison)}\n`);
  const evidence = evidenceSettings(config);
  const served = longDocQaServed(
    lmcacheCounters,
    { numDocuments: config.numDocuments, documentLength: config.documentLength },
    await readChunkTokens(input.config, input.placement),
    await readVllmKvCache(config.vllmPort),
    evidence,
  );
  return concludeBenchmark('long_doc_qa', {
    checks: [
      ...checks.map((check) => withSimNoise(check, config)),
      served,
      baselineIsolated('long_doc_qa', lmcacheCounters, evidence),
    ],
    longDocQaComparison: comparison,
    lmcacheCounters,
  });
}

/** One run of the tool against `port`; `suffix` names a grey-zone repeat's files (lmcache-repeat1_result.json). */
async function askOnce(
  input: BenchmarkInput,
  config: Config,
  run: 'baseline' | 'lmcache',
  port: number,
  suffix: string,
): Promise<LongDocQaResult> {
  const stageDir = path.join(config.resultsDir, 'long_doc_qa');
  const name = `${run}${suffix}`;
  const outputFile = path.join(stageDir, `${name}_output.txt`);
  // It writes its per-round CSV files into the working directory: one per run, so neither overwrites the other.
  const workDir = path.join(stageDir, name);
  await mkdir(workDir, { recursive: true });
  // long_doc_qa.py appends to its output file: a retried attempt must not inherit the last one's.
  await rm(outputFile, { force: true });
  const { stdout, logFile } = await runTool(longDocQaCommand(config, toolPaths(config), { port, outputFile }), {
    label: `long_doc_qa ${name}`,
    progress: longDocQaProgress,
    logFile: path.join(stageDir, `${name}.log`),
    workflowId: input.workflowId,
    cwd: workDir,
  });
  const result = parseLongDocQaStdout(stdout, logFile);
  await writeFile(path.join(stageDir, `${name}_result.json`), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
