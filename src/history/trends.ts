/**
 * Regression detection over past runs, pure: a run's figure is compared with the median of earlier passing
 * runs of the same profile and model, and flagged when it is worse by more than a margin.
 */
import { atMost } from '../verification/format.js';
import { inProgress } from '../workflows/search-attributes.js';
import { FIGURES, type FigureSpec, type KeyFigures } from './figures.js';

/** One run as visibility lists it (its search attributes and times). */
export interface RunRecord {
  workflowId: string;
  runId: string;
  /** ISO time the run started; runs are ordered by it. */
  startTime: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT… */
  status: string;
  profile: string;
  model: string;
  buildId: string;
  /** LmcacheMpCommit: the full sha an LMCACHE_REF run built. */
  commit?: string;
  /** LmcacheMpVerdict; runs that never set it (terminated early) show their Temporal status instead. */
  verdict: string;
  failedStage?: string;
  failedChecks: string[];
  figures: KeyFigures;
}

export interface FigureComparison {
  figure: FigureSpec;
  value: number | null;
  /** Median of the figure over the earlier passing runs that have it; null when none has. */
  median: number | null;
  /** How many earlier runs the median is over. */
  runs: number;
  /** How much worse than the median, in percent of it (negative: better). */
  worsePercent: number | null;
  regression: boolean;
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Positive when `value` is worse than `reference` for this figure, as a percentage of the reference. */
export function worsePercent(figure: FigureSpec, value: number, reference: number): number | null {
  if (reference === 0) return null;
  const change = ((value - reference) / Math.abs(reference)) * 100;
  return figure.better === 'lower' ? change : -change;
}

/** Compares one run's figures with earlier passing runs' (the caller picks which runs count). */
export function compareFigures(
  figures: KeyFigures,
  previousPassing: Pick<RunRecord, 'figures'>[],
  marginPercent: number,
): FigureComparison[] {
  return FIGURES.map((figure) => {
    const earlier = previousPassing.map((run) => run.figures[figure.id]).filter((v): v is number => v !== null);
    const value = figures[figure.id];
    const reference = earlier.length > 0 ? median(earlier) : null;
    const worse = value !== null && reference !== null ? worsePercent(figure, value, reference) : null;
    return {
      figure,
      value,
      median: reference,
      runs: earlier.length,
      worsePercent: worse,
      regression: worse !== null && !atMost(worse, marginPercent),
    };
  });
}

export const byStartTime = (a: RunRecord, b: RunRecord) => a.startTime.localeCompare(b.startTime);

export interface RunGroup {
  profile: string;
  model: string;
  /** Oldest first. */
  runs: RunRecord[];
  /** The newest finished run against the passing runs before it; undefined when no run has finished. */
  latest?: { run: RunRecord; comparisons: FigureComparison[] };
}

/** Groups runs by profile and model (figures are only comparable within one) and checks each group's newest run. */
export function analyseRuns(runs: RunRecord[], marginPercent: number): RunGroup[] {
  const groups = new Map<string, RunGroup>();
  for (const run of [...runs].sort(byStartTime)) {
    const key = JSON.stringify([run.profile, run.model]);
    const group = groups.get(key) ?? { profile: run.profile, model: run.model, runs: [] };
    group.runs.push(run);
    groups.set(key, group);
  }
  for (const group of groups.values()) {
    const finished = group.runs.filter((run) => !inProgress(run.verdict));
    const newest = finished[finished.length - 1];
    if (!newest) continue;
    const before = finished.slice(0, -1).filter((run) => run.verdict === 'passed');
    group.latest = { run: newest, comparisons: compareFigures(newest.figures, before, marginPercent) };
  }
  return [...groups.values()];
}
