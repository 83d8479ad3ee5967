/**
 * The key figures of a run that history tracks across builds: LMCache's query TTFT and query round time
 * (long doc QA) and its throughput relative to the baseline (vllm bench). Pure: the workflow bundle imports it.
 */
import type { Check } from '../report/types.js';

export type FigureId = 'queryTtft' | 'queryRoundTime' | 'throughputRatio';

export interface FigureSpec {
  id: FigureId;
  title: string;
  /** Unit shown after values; empty for a ratio. */
  unit: string;
  /** Which way is better: a regression is a move the other way. */
  better: 'lower' | 'higher';
  /** Base name of its chart file (`<name>.svg`). */
  chart: string;
}

export const FIGURES: readonly FigureSpec[] = [
  { id: 'queryTtft', title: 'Query TTFT (LMCache)', unit: 's', better: 'lower', chart: 'query_ttft' },
  { id: 'queryRoundTime', title: 'Query round time (LMCache)', unit: 's', better: 'lower', chart: 'query_round_time' },
  {
    id: 'throughputRatio',
    title: 'Throughput ratio (LMCache ÷ baseline)',
    unit: '',
    better: 'higher',
    chart: 'throughput_ratio',
  },
];

/** A figure is null when its benchmark did not run (or produced no value). */
export type KeyFigures = Record<FigureId, number | null>;

function numericValue(checks: Check[], name: string): number | null {
  const value = checks.find((check) => check.name === name)?.value;
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * Reads the figures from a run's checks. The throughput check holds LMCache's throughput as its value and
 * baseline × (1 − slowdown %) as its limit, so the baseline is recovered from the limit.
 */
export function keyFigures(checks: Check[], maxThroughputSlowdownPercent: number): KeyFigures {
  const lmcacheThroughput = numericValue(checks, 'vllm_bench.throughput');
  const minimum = checks.find((check) => check.name === 'vllm_bench.throughput')?.limit;
  const keep = 1 - maxThroughputSlowdownPercent / 100;
  const baseline = typeof minimum === 'number' && minimum > 0 && keep > 0 ? minimum / keep : null;
  return {
    queryTtft: numericValue(checks, 'long_doc_qa.query_ttft_per_prompt'),
    queryRoundTime: numericValue(checks, 'long_doc_qa.query_round_time_per_prompt'),
    throughputRatio: lmcacheThroughput !== null && baseline !== null ? lmcacheThroughput / baseline : null,
  };
}
