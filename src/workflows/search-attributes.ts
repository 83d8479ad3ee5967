/**
 * The run's typed search attributes (`LmcacheMp…`), and the pure function that derives their values from the
 * run's state, so the workflow only decides when to upsert. The same keys serve the `history` command's
 * queries and the scripts that register them on a server (`cli.js search-attributes`).
 */
import { defineSearchAttributeKey, type SearchAttributeUpdatePair } from '@temporalio/common';
import type { FigureId, KeyFigures } from '../history/figures.js';
import type { Check, StageReport } from '../report/types.js';

export const SA = {
  profile: defineSearchAttributeKey('LmcacheMpProfile', 'KEYWORD'),
  model: defineSearchAttributeKey('LmcacheMpModel', 'KEYWORD'),
  buildId: defineSearchAttributeKey('LmcacheMpBuildId', 'KEYWORD'),
  /** Where the run is in its life: running, held, or its end (the same value as the verdict). */
  state: defineSearchAttributeKey('LmcacheMpState', 'KEYWORD'),
  verdict: defineSearchAttributeKey('LmcacheMpVerdict', 'KEYWORD'),
  failedStage: defineSearchAttributeKey('LmcacheMpFailedStage', 'KEYWORD'),
  failedChecks: defineSearchAttributeKey('LmcacheMpFailedChecks', 'KEYWORD_LIST'),
  queryTtft: defineSearchAttributeKey('LmcacheMpQueryTtft', 'DOUBLE'),
  queryRoundTime: defineSearchAttributeKey('LmcacheMpQueryRoundTime', 'DOUBLE'),
  throughputRatio: defineSearchAttributeKey('LmcacheMpThroughputRatio', 'DOUBLE'),
  /** The full sha an LMCACHE_REF run built; unset for a run of the working copy. */
  commit: defineSearchAttributeKey('LmcacheMpCommit', 'KEYWORD'),
  // Set by lmcacheMpBisect, not by runs: its good and bad ends and the first bad commit it found (full shas).
  bisectGood: defineSearchAttributeKey('LmcacheMpBisectGood', 'KEYWORD'),
  bisectBad: defineSearchAttributeKey('LmcacheMpBisectBad', 'KEYWORD'),
  firstBad: defineSearchAttributeKey('LmcacheMpFirstBad', 'KEYWORD'),
} as const;

/** The attributes only a bisect sets: searchAttributeUpdates leaves them alone. */
export const BISECT_ATTRIBUTE_KEYS = [SA.bisectGood, SA.bisectBad, SA.firstBad];

export const SEARCH_ATTRIBUTE_KEYS = Object.values(SA);

/** How the `temporal` CLI spells each type (`temporal operator search-attribute create --type`). */
const CLI_TYPE_NAMES: Record<string, string> = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList', DOUBLE: 'Double' };

export function cliTypeName(key: { type: string }): string {
  return CLI_TYPE_NAMES[key.type]!;
}

export type Verdict = 'running' | 'held' | 'passed' | 'passed-with-overrides' | 'failed' | 'cancelled';

/** What the workflow knows about a run at any point. */
export interface RunState {
  profile: string;
  model: string;
  buildId: string;
  stages: StageReport[];
  checks: Check[];
  figures: KeyFigures;
  /** The workflow has written its report and is about to return or fail. */
  finished: boolean;
  cancelled: boolean;
  /** Waiting, servers up, for a `retryStage` or `finish` decision. */
  held?: boolean;
  /** A stage's standing outcome came from a `retryStage` with overridden knobs or thresholds. */
  overridden?: boolean;
  /** The full sha the build stage built, with LMCACHE_REF. */
  commit?: string;
}

/**
 * Verdict rules, first match wins; a run no rule matches passed. A new state (say, a held run) is one more
 * rule in its place in this list.
 */
const VERDICT_RULES: [Verdict, (state: RunState) => boolean][] = [
  ['held', (state) => state.held === true],
  ['running', (state) => !state.finished],
  ['cancelled', (state) => state.cancelled],
  ['failed', (state) => failedStage(state) !== undefined || failedChecks(state).length > 0],
  ['passed-with-overrides', (state) => state.overridden === true],
];

/** Values a run has before it ends: its history entry is not a verdict yet. */
export function inProgress(verdict: string): boolean {
  return verdict === 'running' || verdict === 'held';
}

export function runVerdict(state: RunState): Verdict {
  return VERDICT_RULES.find(([, applies]) => applies(state))?.[0] ?? 'passed';
}

/**
 * The first stage that failed; a cancelled stage is not a failure of the code under test, and an attempt a
 * later `retryStage` superseded no longer counts.
 */
export function failedStage(state: Pick<RunState, 'stages'>): string | undefined {
  return state.stages.find((stage) => stage.status === 'failed' && !stage.superseded)?.name;
}

export function failedChecks(state: Pick<RunState, 'checks'>): string[] {
  return state.checks.filter((check) => !check.passed).map((check) => check.name);
}

/**
 * Every run attribute's current value; absent values are removed (null) so a stale one cannot linger. The
 * commit appears once the build resolved it; the bisect's attributes never.
 */
export function searchAttributeUpdates(state: RunState): SearchAttributeUpdatePair[] {
  const checks = failedChecks(state);
  const figure = (id: FigureId) => state.figures[id];
  return [
    { key: SA.profile, value: state.profile },
    { key: SA.model, value: state.model },
    { key: SA.buildId, value: state.buildId },
    // One lifecycle value under both names: LmcacheMpState is the issue's, LmcacheMpVerdict the history's.
    { key: SA.state, value: runVerdict(state) },
    { key: SA.verdict, value: runVerdict(state) },
    { key: SA.failedStage, value: failedStage(state) ?? null },
    { key: SA.failedChecks, value: checks.length > 0 ? checks : null },
    { key: SA.queryTtft, value: figure('queryTtft') },
    { key: SA.queryRoundTime, value: figure('queryRoundTime') },
    { key: SA.throughputRatio, value: figure('throughputRatio') },
    // Only once known: a commit never changes in a run, and runs recorded before it replay the same upserts.
    ...(state.commit ? [{ key: SA.commit, value: state.commit }] : []),
  ];
}
