/**
 * What every rendering of the report shares: the benchmarks' order and titles, checks grouped, durations,
 * LMCache's counters, where the run lived.
 */
import type { CommitInfo } from '../git/repo.js';
import type { RunPlacement } from '../placement/placement.js';
import { formatNumber } from '../verification/format.js';
import type { Check, LmcacheCounterDeltas, LmcacheCounterReading, RunReport, StageReport } from './types.js';

/** The suite's benchmarks, in the order they run; each gets a section and a JUnit suite even when it never ran. */
export const BENCHMARKS = ['lm_eval', 'vllm_bench', 'long_doc_qa'] as const;

export const BENCHMARK_TITLES: Record<string, string> = {
  lm_eval: 'lm_eval (correctness)',
  vllm_bench: 'vllm bench serve (throughput)',
  long_doc_qa: 'Long document QA (latency)',
};

export function prefixOf(checkName: string): string {
  const dot = checkName.indexOf('.');
  return dot === -1 ? checkName : checkName.slice(0, dot);
}

/** Checks grouped by benchmark prefix: the known three first, then any other prefix as it appears. */
export function groupChecks(checks: Check[]): [string, Check[]][] {
  const groups = new Map<string, Check[]>(BENCHMARKS.map((b) => [b, []]));
  for (const check of checks) {
    const prefix = prefixOf(check.name);
    const group = groups.get(prefix);
    if (group) group.push(check);
    else groups.set(prefix, [check]);
  }
  return [...groups];
}

/** A check's result in words: a report-only check (REQUIRE_LMCACHE_EVIDENCE=0) neither passes nor fails the run. */
export function checkResult(check: Check): 'pass' | 'fail' | 'report only' {
  if (check.reportOnly) return 'report only';
  return check.passed ? 'pass' : 'fail';
}

/** Said above the verdict when evidence checks were only reported, so no one reads them as deciding it. */
export function reportOnlyNote(report: RunReport): string | undefined {
  const shown = report.checks.filter((check) => check.reportOnly);
  if (shown.length === 0) return undefined;
  return (
    `${shown.length} LMCache evidence ${shown.length === 1 ? 'check is' : 'checks are'} report only ` +
    '(REQUIRE_LMCACHE_EVIDENCE=0): ' +
    'they did not decide the verdict'
  );
}

/** Durations as people read them: 850 ms, 12.3 s, 4 m 05 s, 1 h 02 m 09 s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const totalSeconds = Math.round(seconds);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h} h ${pad(m)} m ${pad(s)} s` : `${m} m ${pad(s)} s`;
}

export function tally(report: RunReport) {
  return {
    checksPassed: report.checks.filter((c) => c.passed).length,
    stagesPassed: report.stages.filter((s) => s.status === 'passed').length,
  };
}

/** A stage that failed or was cancelled, and that no later `retryStage` attempt superseded. */
export function standsFailed(stage: StageReport): boolean {
  return (stage.status === 'failed' || stage.status === 'cancelled') && !stage.superseded;
}

/** LMCache's counters in the order and words of every rendering: [field, column title, JUnit property suffix]. */
export const LMCACHE_COUNTER_COLUMNS: [keyof LmcacheCounterDeltas, string, string][] = [
  ['hitTokens', 'Hit tokens', 'hit_tokens'],
  ['finishedStores', 'Finished stores', 'finished_stores'],
  ['l1WrittenChunks', 'L1 written chunks', 'l1_written_chunks'],
  ['finishedRetrieves', 'Finished retrieves', 'finished_retrieves'],
  ['chunksLoaded', 'Chunks loaded', 'chunks_loaded'],
  ['evictedChunks', 'Evicted chunks', 'evicted_chunks'],
  ['usageRatioAfter', 'L1 usage after', 'l1_usage_ratio_after'],
];

export function formatCounter(field: keyof LmcacheCounterDeltas, deltas: LmcacheCounterDeltas): string {
  const value = deltas[field];
  return field === 'usageRatioAfter' ? `${formatNumber(value * 100)} %` : formatNumber(value);
}

/** A benchmark's LMCache counters as its standing attempt (the one no retry superseded) read them. */
export function lmcacheCountersOf(report: RunReport, benchmark: string): LmcacheCounterReading[] | undefined {
  const stage = report.stages.filter((entry) => entry.name === benchmark && !entry.superseded).at(-1);
  return stage?.lmcacheCounters;
}

/** The commit a run built: `<full sha> <subject> (<author>, <date>)`. */
export function describeCommit(commit: CommitInfo): string {
  return `${commit.sha} ${commit.subject} (${commit.author}, ${commit.date})`;
}

/** Where the run lived: its node, GPUs and the ports it leased (its servers listened there, not on the defaults). */
export function describePlacement(placement: RunPlacement): string {
  const gpus = placement.gpus
    ? ` · GPUs ${placement.gpus.withLmcache} (LMCache) and ${placement.gpus.baseline} (baseline)`
    : '';
  const ports = Object.entries(placement.ports)
    .filter(([, port]) => port !== undefined)
    .map(([role, port]) => `${role} ${port}`)
    .join(', ');
  return `${placement.node}${gpus} · ports ${ports}`;
}
