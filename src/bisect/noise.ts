/**
 * Noise near a limit: a figure that lands within BISECT_NOISE_PERCENT of its limit is measured again, up to
 * BISECT_REPEATS samples, and decided by the median, so one noisy run cannot move the range. Pure: the workflow
 * bundle imports it.
 */
import { median } from '../history/trends.js';
import { atMost, formatNumber } from '../verification/format.js';
import { figureText, isFigurePredicate, judgeFigure, type FigurePredicate, type Predicate } from './predicate.js';

/** Relative to the limit: 5 % of a 0.15 s limit is 0.1425 to 0.1575 s, both ends included. */
export function nearLimit(predicate: FigurePredicate, value: number, noisePercent: number): boolean {
  // atMost: a value a person reads as on the band's edge is inside it, floating point notwithstanding.
  return atMost(Math.abs(value - predicate.limit), (Math.abs(predicate.limit) * noisePercent) / 100);
}

/**
 * Whether the commit is probed once more: a figure predicate, fewer than maxRepeats samples, and their median
 * near the limit. A check predicate is never repeated: it is pass or fail.
 */
export function needsRepeat(
  predicate: Predicate,
  samples: number[],
  noisePercent: number,
  maxRepeats: number,
): boolean {
  return (
    isFigurePredicate(predicate) &&
    samples.length > 0 &&
    samples.length < maxRepeats &&
    nearLimit(predicate, median(samples), noisePercent)
  );
}

export interface MedianDecision {
  outcome: 'good' | 'bad';
  median: number;
  /** Why the commit was probed again, when it was: the first sample near the limit, the samples and their median. */
  repeated?: string;
  reason: string;
}

/** Good or bad from the samples' median (a single sample decides alone). */
export function decideByMedian(predicate: FigurePredicate, samples: number[], noisePercent: number): MedianDecision {
  const value = median(samples);
  const { outcome, reason } = judgeFigure(predicate, value);
  if (samples.length === 1) return { outcome, median: value, reason };
  const { figure, limit } = predicate;
  const repeated =
    `${figure} ${figureText(figure, samples[0]!)} within ${formatNumber(noisePercent)} % of the ${formatNumber(limit)} limit; ` +
    `${samples.length} samples (${samples.map(formatNumber).join(', ')}), median ${figureText(figure, value)}`;
  return { outcome, median: value, repeated, reason: `${repeated} → ${outcome}` };
}
