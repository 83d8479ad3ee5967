/** The run's figures from its requests' outcomes, as the tool computes them. */
import { countTokens } from '../../sim/tokens.js';
import type { Outcome } from './requests.js';

export const PERCENTILE_METRICS = ['ttft', 'tpot', 'itl', 'e2el'] as const;
export type PercentileMetric = (typeof PERCENTILE_METRICS)[number];

/** vllm's calculate_metrics, including its peak tokens-per-second buckets and peak concurrency sweep. */
export function calculateMetrics(outcomes: readonly Outcome[], duration: number) {
  const outputLens: number[] = [];
  const ttfts: number[] = [];
  const tpots: number[] = [];
  const itls: number[] = [];
  const e2els: number[] = [];
  let totalInput = 0;
  let completed = 0;
  for (const o of outcomes) {
    if (!o.success) {
      outputLens.push(0);
      continue;
    }
    const outputLen = o.outputTokens || countTokens(o.generatedText);
    outputLens.push(outputLen);
    totalInput += o.promptLen;
    if (outputLen > 1) tpots.push((o.latency - o.ttft) / (outputLen - 1));
    itls.push(...o.itl);
    ttfts.push(o.ttft);
    e2els.push(o.latency);
    completed++;
  }
  const successful = outcomes.filter((o) => o.success);
  let maxOutputTokensPerS = 0;
  let maxConcurrentRequests = 0;
  if (successful.length > 0) {
    const minStart = Math.min(...successful.map((o) => o.startTime));
    const maxEnd = Math.max(...successful.map((o) => o.startTime + o.latency));
    const buckets = new Array<number>(Math.ceil(maxEnd - minStart) + 1).fill(0);
    for (const o of successful) {
      let tokenTime = o.startTime + o.ttft;
      const tokenTimes = [tokenTime];
      for (const gap of o.itl) tokenTimes.push((tokenTime += gap));
      for (const t of tokenTimes) {
        const bucket = Math.trunc(t - minStart);
        if (bucket >= 0 && bucket < buckets.length) buckets[bucket]!++;
      }
    }
    maxOutputTokensPerS = Math.max(...buckets);
    // Half-open intervals: at equal times a departure is counted before an arrival.
    const events = successful.flatMap((o) => [
      [o.startTime, 1],
      [o.startTime + o.latency, -1],
    ]) as Array<[number, number]>;
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let current = 0;
    for (const [, delta] of events) maxConcurrentRequests = Math.max(maxConcurrentRequests, (current += delta));
  }
  const totalOutput = outputLens.reduce((sum, n) => sum + n, 0);
  return {
    completed,
    failed: outcomes.length - completed,
    totalInput,
    totalOutput,
    outputLens,
    requestThroughput: completed / duration,
    outputThroughput: totalOutput / duration,
    totalTokenThroughput: (totalInput + totalOutput) / duration,
    samples: { ttft: ttfts, tpot: tpots, itl: itls, e2el: e2els } satisfies Record<PercentileMetric, number[]>,
    maxOutputTokensPerS,
    maxConcurrentRequests,
  };
}
