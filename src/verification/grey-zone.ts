/**
 * Verdicts that hold under noise (issue 19): a performance figure that lands within GREY_ZONE_PERCENT of its
 * limit is measured again, up to MAX_REPEATS more times, and decided by the median of its samples. Pure: the
 * activities measure, this decides; the medians, bootstrap intervals and spreads are shown in the report.
 */
import { seededRandom } from '../sim/seeded-random.js';
import { atLeast, atMost, formatNumber } from './format.js';

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Median absolute deviation from the median: a spread that one wild run does not inflate. */
export function medianAbsoluteDeviation(values: readonly number[]): number {
  const centre = median(values);
  return median(values.map((value) => Math.abs(value - centre)));
}

/** Resamples a bootstrap interval draws; enough for a stable 5th and 95th percentile of a few samples' median. */
const BOOTSTRAP_RESAMPLES = 2000;

/**
 * A bootstrap 90 % interval of the median: the 5th and 95th percentiles of the medians of resamples (with
 * replacement). Seeded, so the same samples always give the same interval in the report.
 */
export function bootstrapMedianInterval(values: readonly number[], seed: number): [number, number] {
  if (values.length === 0) throw new RangeError('interval of no values');
  const random = seededRandom(seed);
  const medians: number[] = [];
  for (let i = 0; i < BOOTSTRAP_RESAMPLES; i++) {
    medians.push(median(values.map(() => values[Math.floor(random() * values.length)])));
  }
  medians.sort((a, b) => a - b);
  const at = (q: number) => medians[Math.min(medians.length - 1, Math.floor(q * medians.length))];
  return [at(0.05), at(0.95)];
}

export interface GreyZoneRule {
  /** Points of a ratio in percent (throughput), or percent of the limit (latencies). */
  greyZonePercent: number;
  /** More samples allowed after the first; 0 is the single-sample rule. */
  maxRepeats: number;
}

/** A performance figure as the grey zone sees it: its limit, which side passes, how to name it. */
export interface Figure {
  /** Short name for the reasons: "ratio", "query TTFT". */
  label: string;
  unit: string;
  limit: number;
  /** `min`: passes at or above the limit (throughput ratio); `max`: at or below (latencies). */
  bound: 'min' | 'max';
  /** The grey zone's half-width in the figure's unit, and how a person reads it ("2 points", "2 % (0.004 s)"). */
  margin: number;
  marginText: string;
}

/** A throughput ratio in percent of the baseline: the grey zone is GREY_ZONE_PERCENT points around the limit. */
export function ratioFigure(minimumPercent: number, rule: GreyZoneRule): Figure {
  const points = rule.greyZonePercent;
  return {
    label: 'ratio',
    unit: ' %',
    limit: minimumPercent,
    bound: 'min',
    margin: points,
    marginText: `${formatNumber(points)} point${points === 1 ? '' : 's'}`,
  };
}

/** A latency in seconds under its limit: the grey zone is GREY_ZONE_PERCENT of the limit, either side. */
export function latencyFigure(label: string, maximumSeconds: number, rule: GreyZoneRule): Figure {
  const margin = (maximumSeconds * rule.greyZonePercent) / 100;
  return {
    label,
    unit: ' s',
    limit: maximumSeconds,
    bound: 'max',
    margin,
    marginText: `${formatNumber(rule.greyZonePercent)} % (${formatNumber(margin)} s)`,
  };
}

export function passes(figure: Figure, value: number): boolean {
  return figure.bound === 'min' ? atLeast(value, figure.limit) : atMost(value, figure.limit);
}

export function inGreyZone(figure: Figure, value: number): boolean {
  return atMost(Math.abs(value - figure.limit), figure.margin);
}

/**
 * Whether more samples could still change the verdict. Once more than half of the most samples a figure may take
 * (1 + MAX_REPEATS) lie on one side of the limit, every median the rule could stop at lies on that side too:
 * measuring on would cost time and decide the same.
 */
function verdictStillOpen(figure: Figure, samples: readonly number[], rule: GreyZoneRule): boolean {
  const passing = samples.filter((value) => passes(figure, value)).length;
  return Math.max(passing, samples.length - passing) <= (rule.maxRepeats + 1) / 2;
}

/**
 * Why another sample is needed after `samples`, or null when the figure is decided: its median is outside the
 * grey zone, the repeats are spent, or no further sample could change the verdict. "first ratio 95.6 %, within 2
 * points of the 95 % limit".
 */
export function repeatReason(figure: Figure, samples: readonly number[], rule: GreyZoneRule): string | null {
  if (samples.length === 0 || samples.length > rule.maxRepeats) return null;
  const centre = median(samples);
  if (!inGreyZone(figure, centre) || !verdictStillOpen(figure, samples, rule)) return null;
  const which = samples.length === 1 ? `first ${figure.label}` : `median ${figure.label} of ${samples.length}`;
  return (
    `${which} ${formatNumber(centre)}${figure.unit}, within ${figure.marginText} of the ` +
    `${formatNumber(figure.limit)}${figure.unit} limit`
  );
}

/** What a check carries of a figure measured under the grey-zone rule: report.md and JUnit show it. */
export interface SampleSummary {
  figure: string;
  unit: string;
  limit: number;
  /** Every sample in the order measured; the first is the single-sample rule's. */
  values: number[];
  median: number;
  /** Bootstrap 90 % interval of the median (seeded with `seed`). */
  interval: [number, number];
  /** One per repeat: why it was measured. Empty when the first sample decided. */
  reasons: string[];
  /** The single-sample rule's verdict: the first sample against the limit. */
  firstPassed: boolean;
  passed: boolean;
  /** Seconds each sample took to measure, the first one's included. */
  seconds: number[];
  seed: number;
}

export function summarize(
  figure: Figure,
  values: readonly number[],
  reasons: readonly string[],
  seconds: readonly number[],
  seed: number,
): SampleSummary {
  const centre = median(values);
  return {
    figure: figure.label,
    unit: figure.unit.trim(),
    limit: figure.limit,
    values: [...values],
    median: centre,
    interval: bootstrapMedianInterval(values, seed),
    reasons: [...reasons],
    firstPassed: passes(figure, values[0]),
    passed: passes(figure, centre),
    seconds: [...seconds],
    seed,
  };
}

/** One sentence for a check's detail: the samples, their median and interval, and why they were taken. */
export function describeSamples(summary: SampleSummary): string {
  const unit = summary.unit === '%' ? ' %' : ` ${summary.unit}`;
  const values = summary.values.map((value) => formatNumber(value)).join(', ');
  const [low, high] = summary.interval.map((value) => formatNumber(value));
  return (
    `${summary.values.length} samples of the ${summary.figure} (${values}${unit}): median ` +
    `${formatNumber(summary.median)}${unit}, 90 % interval ${low}–${high}${unit}; repeated because ` +
    `${summary.reasons.join('; then ')}.`
  );
}

/**
 * History's noise estimate: a figure whose spread across passing runs exceeds the grey zone is measured too
 * coarsely; the suggestion is a grey zone of twice that spread, rounded up, in the grey zone's own terms.
 */
export function suggestedGreyZonePercent(spreadInZoneTerms: number, greyZonePercent: number): number | null {
  // Rounding errors (0.02 × 100) must neither make a spread exceed the zone nor round the suggestion up.
  return atMost(spreadInZoneTerms, greyZonePercent) ? null : Math.ceil(2 * spreadInZoneTerms - 1e-9);
}

export interface Measured<S> {
  sample: S;
  seconds: number;
}

export interface Sampled<S> {
  samples: S[];
  seconds: number[];
  /** One per repeat: the reasons of the figures that were in the grey zone, joined. */
  reasons: string[];
}

/**
 * Measures again while any figure's median is in its grey zone and repeats are left. `measureAgain(k)` takes the
 * k-th repeat (1, 2, …); the caller gives it a fresh seed and cold caches. Nothing repeats outside the zone.
 */
export async function sampleUntilDecided<S>(
  first: Measured<S>,
  figures: ReadonlyArray<{ figure: Figure; of: (sample: S) => number }>,
  rule: GreyZoneRule,
  measureAgain: (repeat: number) => Promise<Measured<S>>,
): Promise<Sampled<S>> {
  const sampled: Sampled<S> = { samples: [first.sample], seconds: [first.seconds], reasons: [] };
  for (;;) {
    const why = figures
      .map(({ figure, of }) => repeatReason(figure, sampled.samples.map(of), rule))
      .filter((reason): reason is string => reason !== null);
    if (why.length === 0) return sampled;
    sampled.reasons.push(why.join(' and '));
    const next = await measureAgain(sampled.samples.length);
    sampled.samples.push(next.sample);
    sampled.seconds.push(next.seconds);
  }
}
