/**
 * Stage "long_doc_qa" (latency): LMCache's long document QA benchmark, baseline first, then vLLM with
 * LMCache; the LMCache run's query TTFT and round time are held to their limits, and a side-by-side table
 * against the baseline is kept for people.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { longDocQaCommand } from '../commands/tools.js';
import { placedConfig } from '../placement/placement.js';
import { renderComparisonTable } from '../report/markdown.js';
import {
  comparisonRows,
  parseLongDocQaStdout,
  verifyLongDocQa,
  type LongDocQaResult,
} from '../verification/long-doc-qa.js';
import { baselineIsolated, longDocQaServed } from '../verification/lmcache-evidence.js';
import {
  baselineThenLmcache,
  concludeBenchmark,
  evidenceSettings,
  runSide,
  type BenchmarkOutcome,
} from './benchmark.js';
import { readChunkTokens, readVllmKvCache } from './lmcache-metrics.js';
import { emptyCaches, isRetriedAttempt, type BenchmarkInput } from './cold-caches.js';
import type { LmcacheCounterReading } from '../report/types.js';
import { runTool, toolPaths } from './run-tool.js';
import { longDocQaProgress } from '../verification/tool-progress.js';

export async function runLongDocQa(input: BenchmarkInput): Promise<BenchmarkOutcome> {
  const { workflowId } = input;
  const config = placedConfig(input.config, input.placement);
  // Its query round is meant to hit what the warm-up round cached, not what a failed attempt left behind.
  if (isRetriedAttempt(input)) await emptyCaches({ ...input, config });
  const stageDir = path.join(config.resultsDir, 'long_doc_qa');
  await mkdir(stageDir, { recursive: true });
  const results: { baseline?: LongDocQaResult; lmcache?: LongDocQaResult } = {};
  // One reading over each run, warm-up and query rounds together: the tool is one process.
  const lmcacheCounters: LmcacheCounterReading[] = [];
  for (const [run, port] of baselineThenLmcache(config)) {
    const outputFile = path.join(stageDir, `${run}_output.txt`);
    // It writes its per-round CSV files into the working directory: one per run, so neither overwrites the other.
    const workDir = path.join(stageDir, run);
    await mkdir(workDir, { recursive: true });
    // long_doc_qa.py appends to its output file: a retried attempt must not inherit the last one's.
    await rm(outputFile, { force: true });
    const ask = () =>
      runTool(longDocQaCommand(config, toolPaths(config), { port, outputFile }), {
        label: `long_doc_qa ${run}`,
        progress: longDocQaProgress,
        logFile: path.join(stageDir, `${run}.log`),
        workflowId,
        cwd: workDir,
      });
    const { stdout, logFile } = await runSide(run, input, lmcacheCounters, ask);
    const result = parseLongDocQaStdout(stdout, logFile);
    await writeFile(path.join(stageDir, `${run}_result.json`), `${JSON.stringify(result, null, 2)}\n`);
    results[run] = result;
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
      ...verifyLongDocQa(results, {
        maxTtft: config.maxLmcacheTtft,
        maxQueryRoundTime: config.maxLmcacheQueryRoundTime,
      }),
      served,
      baselineIsolated('long_doc_qa', lmcacheCounters, evidence),
    ],
    longDocQaComparison: comparison,
    lmcacheCounters,
  });
}
