/** Shapes shared by the verification code, the activities, the workflow and the report. Pure types. */
import type { KeyFigures } from '../history/figures.js';

/** One pass/fail criterion of the suite, with the measured value and the limit it was held to. */
export interface Check {
  /** Dotted, prefixed by its benchmark: `lm_eval.`, `vllm_bench.` or `long_doc_qa.`. */
  name: string;
  passed: boolean;
  value: number | string | null;
  limit: number | string | null;
  /** One sentence a person reads when the check failed (or why it passed, where that is not obvious). */
  detail?: string;
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
}

export interface RunReport {
  workflowId: string;
  runId: string;
  buildId: string;
  profile: 'gpu' | 'sim';
  model: string;
  passed: boolean;
  resultsDir: string;
  stages: StageReport[];
  checks: Check[];
  /** Side-by-side latency table of long doc QA, for people (Markdown), when that stage ran. */
  comparisonTable?: string;
  /** The figures run history tracks across builds (see src/history/figures.ts). */
  figures?: KeyFigures;
}
