/**
 * LMCache's long_doc_qa.py latency check: with the documents cached by the warm-up round, LMCache's
 * query round must meet the TTFT and round-time limits. The baseline is only shown beside it.
 */
import { OutputParseError } from './errors.js';
import { atMost, formatNumber } from './format.js';
import { isPlainObject, parsePythonJson, requireFiniteNumbers, truncate } from './py-json.js';
import type { Check, ComparisonRow } from '../report/types.js';
import { describeSamples, latencyFigure, summarize, type Figure, type GreyZoneRule } from './grey-zone.js';

export interface LongDocQaResult {
  query_ttft_per_prompt: number;
  query_round_time_per_prompt: number;
  warmup_round_time_per_prompt: number;
  [key: string]: unknown;
}

const REQUIRED = ['query_ttft_per_prompt', 'query_round_time_per_prompt', 'warmup_round_time_per_prompt'] as const;

/** long_doc_qa.py --json-output: its LAST non-empty stdout line is one JSON object. */
export function parseLongDocQaStdout(stdout: string, source: string): LongDocQaResult {
  const fail = (reason: string) => new OutputParseError(`long_doc_qa output ${source}: ${reason}`);
  const last = stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .pop();
  if (last === undefined) throw fail('stdout is empty, so the run printed no JSON summary');
  let parsed: unknown;
  try {
    parsed = parsePythonJson(last);
  } catch {
    throw fail(`the last line is not JSON (was the run cut short?): ${JSON.stringify(truncate(last, 120))}`);
  }
  if (!isPlainObject(parsed)) throw fail(`the last line is not a JSON object: ${JSON.stringify(truncate(last, 120))}`);
  requireFiniteNumbers(parsed, REQUIRED, fail);
  return parsed as LongDocQaResult;
}

export interface LongDocQaLimits {
  maxTtft: number;
  maxQueryRoundTime: number;
}

interface Results {
  baseline?: LongDocQaResult;
  lmcache?: LongDocQaResult;
}

export function verifyLongDocQa(results: Results, limits: LongDocQaLimits): Check[] {
  return [
    latencyCheck(results, 'query_ttft_per_prompt', 'mean query TTFT', limits.maxTtft),
    latencyCheck(results, 'query_round_time_per_prompt', 'query round time per prompt', limits.maxQueryRoundTime),
  ];
}

type Metric = 'query_ttft_per_prompt' | 'query_round_time_per_prompt';

/** The two latencies as grey-zone figures, each with its own limit. */
export function latencyFigures(
  limits: LongDocQaLimits,
  rule: GreyZoneRule,
): Array<{ metric: Metric; figure: Figure; of: (result: LongDocQaResult) => number }> {
  return [
    {
      metric: 'query_ttft_per_prompt',
      figure: latencyFigure('query TTFT', limits.maxTtft, rule),
      of: (result) => result.query_ttft_per_prompt,
    },
    {
      metric: 'query_round_time_per_prompt',
      figure: latencyFigure('query round time', limits.maxQueryRoundTime, rule),
      of: (result) => result.query_round_time_per_prompt,
    },
  ];
}

/** The latency checks of LMCache query rounds measured in the grey zone, each decided by its median. */
export function medianLatencyChecks(
  lmcache: readonly LongDocQaResult[],
  limits: LongDocQaLimits,
  rule: GreyZoneRule,
  sampled: { reasons: readonly string[]; seconds: readonly number[]; seed: number },
): Check[] {
  return latencyFigures(limits, rule).map(({ metric, figure, of }) => {
    const samples = summarize(figure, lmcache.map(of), sampled.reasons, sampled.seconds, sampled.seed);
    return {
      name: `long_doc_qa.${metric}`,
      passed: samples.passed,
      value: samples.median,
      limit: figure.limit,
      detail:
        `LMCache's median ${figure.label} is ${formatNumber(samples.median)} s, ` +
        `${samples.passed ? 'within' : 'over'} the ${formatNumber(figure.limit)} s limit. ${describeSamples(samples)}`,
      samples,
    };
  });
}

function latencyCheck(results: Results, metric: Metric, what: string, limit: number): Check {
  const name = `long_doc_qa.${metric}`;
  const lmcache = results.lmcache?.[metric];
  if (lmcache === undefined) {
    return {
      name,
      passed: false,
      value: null,
      limit,
      detail: 'No LMCache result from long_doc_qa, so its latency is unknown.',
    };
  }
  const baseline = results.baseline?.[metric];
  const against = baseline === undefined ? '' : ` (baseline ${formatNumber(baseline)} s)`;
  if (lmcache <= 0) {
    // long_doc_qa reports a TTFT of 0 for a request that produced no output; it must not pass as fast.
    return {
      name,
      passed: false,
      value: lmcache,
      limit,
      detail: `LMCache's ${what} is ${formatNumber(lmcache)} s, which means no output was timed.`,
    };
  }
  const passed = atMost(lmcache, limit);
  return {
    name,
    passed,
    value: lmcache,
    limit,
    detail: `LMCache's ${what} is ${formatNumber(lmcache)} s, ${passed ? 'within' : 'over'} the ${formatNumber(limit)} s limit${against}.`,
  };
}

/** The latencies people compare side by side (src/report/ renders them); the baseline is never checked. */
export function comparisonRows(results: Results): ComparisonRow[] {
  return REQUIRED.map((metric) => ({
    metric,
    baseline: results.baseline?.[metric],
    lmcache: results.lmcache?.[metric],
  }));
}
