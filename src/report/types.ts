/** The run's report and its parts: shared by the verification code, activities, workflow and renderers. Pure types. */
import type { CommitInfo } from '../git/repo.js';
import type { KeyFigures } from '../history/figures.js';
import type { RunPlacement } from '../placement/placement.js';

/** One pass/fail criterion of the suite, with the measured value and the limit it was held to. */
export interface Check {
  /** Dotted, prefixed by its stage: `lm_eval.`, `vllm_bench.`, `long_doc_qa.` or a script stage's name. */
  name: string;
  passed: boolean;
  value: number | string | null;
  limit: number | string | null;
  /** One sentence a person reads when the check failed (or why it passed, where that is not obvious). */
  detail?: string;
  /**
   * Shown, not deciding: an LMCache evidence check with REQUIRE_LMCACHE_EVIDENCE=0. `passed` is then true whatever
   * it found, and the detail says what that was.
   */
  reportOnly?: boolean;
}

export type StageStatus = 'passed' | 'failed' | 'skipped' | 'cancelled';

export interface StageReport {
  name: string;
  status: StageStatus;
  durationMs: number;
  /** Attempts the stage's activity took (its last attempt's number). */
  attempts?: number;
  error?: string;
  errorType?: string;
  /** Set by `retryStage`: which retry of the stage this was (1 for the first). */
  retry?: number;
  /** A later `retryStage` attempt of the same stage replaced this outcome; kept for the record. */
  superseded?: boolean;
  /** The knobs and thresholds a `retryStage` overrode for this attempt, original beside overridden. */
  overrides?: Record<string, { original: unknown; overridden: unknown }>;
  /** What a person should know of how the stage went: build's `image for <short sha> exists` when it built nothing. */
  detail?: string;
  /** vllm_bench: the seed both sides used, so the attempt can be reproduced. */
  seed?: number;
  /** Benchmarks: LMCache's own counters over each run of the stage, the baseline's included. */
  lmcacheCounters?: LmcacheCounterReading[];
}

/** LMCache's Prometheus counters over one benchmark run: what that run made the LMCache server do. */
export interface LmcacheCounterReading {
  /** The run of the stage: `lmcache` (vllm_bench, long_doc_qa), `first_run` or `second_run` (lm_eval). */
  run: string;
  /** After minus before; absent when they could not be read. */
  deltas?: LmcacheCounterDeltas;
  /** Why there are no deltas: "LMCache metrics not reachable at 127.0.0.1:P: <reason>". */
  unavailable?: string;
}

export interface LmcacheCounterDeltas {
  lookups: number;
  hitTokens: number;
  finishedStores: number;
  l1WrittenChunks: number;
  finishedRetrieves: number;
  l1ReadChunks: number;
  chunksLoaded: number;
  evictedChunks: number;
  /** L1's used/total ratio (0 to 1) at the end of the run. */
  usageRatioAfter: number;
}

export interface RunReport {
  workflowId: string;
  runId: string;
  buildId: string;
  profile: 'gpu' | 'sim';
  model: string;
  passed: boolean;
  /** The run's verdict as its search attribute says it (`passed-with-overrides`, say); absent in older reports. */
  verdict?: string;
  resultsDir: string;
  /** The node the run claimed, and the GPUs and ports it leased there. */
  placement?: RunPlacement;
  /** With LMCACHE_REF: the commit the run built and ran. */
  commit?: CommitInfo;
  stages: StageReport[];
  checks: Check[];
  /** Long doc QA's latencies, LMCache beside the baseline, when that stage ran. */
  longDocQaComparison?: ComparisonRow[];
  /** The figures run history tracks across builds (see src/history/figures.ts). */
  figures?: KeyFigures;
}

/** One metric of a benchmark, measured on both servers (in seconds for long doc QA). */
export interface ComparisonRow {
  metric: 'query_ttft_per_prompt' | 'query_round_time_per_prompt' | 'warmup_round_time_per_prompt';
  baseline?: number;
  lmcache?: number;
}
