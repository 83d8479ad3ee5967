/**
 * The `lmcacheMpBisect` workflow: finds the first commit between a good and a bad LMCache ref at which a check
 * fails or a figure passes a limit. It lists the candidate commits, confirms that the good end is good and the bad
 * end bad, then narrows the range in rounds of k probes at once, each probe a child `lmcacheMpTest` run at one
 * commit (claiming a node as every run does, so the probes spread over the fleet). A figure near its limit is
 * probed again and decided by the median; a probe that broke (a stage error, not a check) is run again and never
 * counted as bad. Deterministic orchestration only.
 */
import {
  ApplicationFailure,
  ChildWorkflowCancellationType,
  ChildWorkflowFailure,
  ParentClosePolicy,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { isFigurePredicate, judgeProbe, type Judgement } from '../bisect/predicate.js';
import { decideByMedian, needsRepeat } from '../bisect/noise.js';
import { candidatesLeft, initialRange, isDone, narrow, probePoints, type RangeState } from '../bisect/range.js';
import {
  renderBisectProgress,
  type BisectResult,
  type ChildRun,
  type CommitInfo,
  type ProbeRecord,
} from '../bisect/report.js';
import { resolveBisectInput, type BisectInput, type BisectSettings } from '../config/bisect-input.js';
import { InvalidConfigError, resolveConfig, type ConfigInput } from '../config/schema.js';
import { FailureType } from '../failures.js';
import type { RunReport } from '../report/types.js';
import { lmcacheMpTest } from './lmcache-mp-test.js';
import { failureOf } from './run-record.js';
import { SA } from './search-attributes.js';
import { retryPolicy } from './stage-options.js';

const git = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '2m',
  retry: retryPolicy(3),
  summary: 'list the candidate commits',
});
const fleet = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '30s',
  retry: retryPolicy(3),
  summary: 'count the nodes that can take a probe',
});
const reporting = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '1m',
  retry: retryPolicy(5),
  summary: 'write bisect.md',
});

export async function lmcacheMpBisect(input: BisectInput): Promise<BisectResult> {
  const info = workflowInfo();
  const settings = validInput(input);
  const { resultsDir, lmcacheRepoDir, maxThroughputSlowdownPercent } = probeConfig(settings.config, info.workflowId);

  const { good, bad, candidates } = await git.listCandidateCommits({
    repoDir: lmcacheRepoDir,
    good: settings.good,
    bad: settings.bad,
  });
  upsertSearchAttributes([
    { key: SA.bisectGood, value: good.sha },
    { key: SA.bisectBad, value: bad.sha },
  ]);
  const k = settings.parallelProbes ?? Math.max(1, (await fleet.countFleetNodes()).nodes);
  let range: RangeState = initialRange(candidates.length);
  let round = 0;
  const probe = new Prober(settings, maxThroughputSlowdownPercent, () =>
    setCurrentDetails(
      renderBisectProgress({
        good,
        candidates,
        range,
        round,
        running: probe.running,
        probes: probe.records,
        namespace: info.namespace,
      }),
    ),
  );

  // Round 0 confirms the ends: good must be good and bad bad, or no commit between them can be named.
  const ends = await probe.round(round, [
    { commit: good, index: -1 },
    { commit: bad, index: candidates.length - 1 },
  ]);
  const misbehaving = ends.filter((end, i) => end.outcome !== (i === 0 ? 'good' : 'bad'));
  let stoppedBecause = misbehaving
    .map(
      (end) =>
        `the ${end.index === -1 ? 'good' : 'bad'} end ${end.commit.sha.slice(0, 12)} is ${end.outcome}: ${end.reason}`,
    )
    .join('; ');
  while (!stoppedBecause && !isDone(range)) {
    const points = probePoints(range, k);
    if (probe.records.length + points.length > settings.maxProbes) {
      stoppedBecause = `MAX_PROBES=${settings.maxProbes} reached with ${candidatesLeft(range)} commits left`;
      break;
    }
    round++;
    const outcomes = await probe.round(
      round,
      points.map((index) => ({ commit: candidates[index], index })),
    );
    const broken = outcomes.find((outcome) => outcome.outcome === 'infra');
    if (broken) {
      stoppedBecause = `the probe at ${broken.commit.sha.slice(0, 12)} kept failing for infrastructure reasons: ${broken.reason}`;
      break;
    }
    const narrowed = narrow(
      range,
      outcomes.map((outcome) => ({ index: outcome.index, bad: outcome.outcome === 'bad' })),
    );
    if (narrowed.nonMonotonic.length > 0)
      log.warn('probes contradict a single change', { nonMonotonic: narrowed.nonMonotonic });
    range = narrowed.state;
    log.info('bisect round done', { round, lastGood: range.lastGood, firstBad: range.firstBad });
  }
  probe.showProgress();

  const result: BisectResult = {
    good: settings.good,
    bad: settings.bad,
    predicate: settings.predicate,
    candidates: candidates.length,
    parallelProbes: k,
    probes: probe.records,
    rounds: round,
    ...(stoppedBecause
      ? { stoppedBecause }
      : { firstBad: candidates[range.firstBad], lastGood: range.lastGood === -1 ? good : candidates[range.lastGood] }),
  };
  if (result.firstBad) upsertSearchAttributes([{ key: SA.firstBad, value: result.firstBad.sha }]);
  await reporting.writeBisectReport({ result, resultsDir });
  if (stoppedBecause) {
    throw ApplicationFailure.create({
      type: FailureType.BisectInconclusive,
      message: `bisect stopped: ${stoppedBecause}`,
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}

function validInput(input: BisectInput): BisectSettings {
  try {
    return resolveBisectInput(input);
  } catch (error) {
    if (error instanceof InvalidConfigError) {
      throw ApplicationFailure.create({ type: FailureType.InvalidConfig, message: error.message, nonRetryable: true });
    }
    throw error;
  }
}

/** The probes' configuration, checked once here so that a bad one fails the bisect before any probe starts. */
function probeConfig(config: ConfigInput, workflowId: string) {
  try {
    return resolveConfig(config, { workflowId });
  } catch (error) {
    if (error instanceof InvalidConfigError) {
      throw ApplicationFailure.create({ type: FailureType.InvalidConfig, message: error.message, nonRetryable: true });
    }
    throw error;
  }
}

interface Candidate {
  commit: CommitInfo;
  index: number;
}

type Outcome = Candidate & Pick<Judgement, 'outcome' | 'reason'>;

/** Runs probes as child runs, repeats them where noise or a broken stage asks for it, and records each commit's. */
class Prober {
  private readonly workflowId = workflowInfo().workflowId;
  /** One record per commit probed, its repeats inside it. */
  readonly records: ProbeRecord[] = [];
  readonly running: (ChildRun & { index: number })[] = [];

  constructor(
    private readonly settings: BisectSettings,
    private readonly maxThroughputSlowdownPercent: number,
    readonly showProgress: () => void,
  ) {}

  /**
   * The candidates' probes, all at once: each claims a node as any run does. All of them end before the round
   * does, so a cancelled bisect ends only once every probe has cleaned up.
   */
  async round(round: number, candidates: Candidate[]): Promise<Outcome[]> {
    const settled = await Promise.allSettled(candidates.map((candidate) => this.decide(round, candidate)));
    const failed = settled.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((outcome) => (outcome as PromiseFulfilledResult<Outcome>).value);
  }

  /** One commit's outcome: probed until a figure is clear of its limit's noise band, a broken probe run again. */
  private async decide(round: number, candidate: Candidate): Promise<Outcome> {
    const { predicate, noisePercent, repeats, infraRetries } = this.settings;
    const record: ProbeRecord = {
      commit: candidate.commit,
      index: candidate.index,
      round,
      outcome: 'infra',
      figures: [],
      workflowId: '',
    };
    this.records.push(record);
    for (let broken = 0; ;) {
      const judgement = await this.probe(record);
      record.outcome = judgement.outcome;
      record.reason = judgement.reason;
      if (judgement.outcome === 'infra') {
        if (++broken > infraRetries) break;
        continue;
      }
      if (judgement.figure !== undefined) record.figures.push(judgement.figure);
      if (!needsRepeat(predicate, record.figures, noisePercent, repeats)) break;
    }
    if (record.outcome !== 'infra' && isFigurePredicate(predicate) && record.figures.length > 1) {
      const decided = decideByMedian(predicate, record.figures, noisePercent);
      Object.assign(record, { outcome: decided.outcome, reason: decided.reason, repeated: decided.repeated });
    }
    return { ...candidate, outcome: record.outcome, reason: record.reason ?? '' };
  }

  /** One child run at the record's commit, judged by the predicate; a repeat is kept in the record's repeats. */
  private async probe(record: ProbeRecord): Promise<Judgement> {
    const { commit } = record;
    const attempt = record.workflowId ? (record.repeats?.length ?? 0) + 2 : 1;
    const workflowId = `${this.workflowId}-${commit.sha.slice(0, 12)}-${attempt}`;
    // Each probe has its own build id and results directory, from its own workflow id.
    const { buildId: _buildId, resultsDir: _resultsDir, ...config } = this.settings.config;
    const child = await startChild(lmcacheMpTest, {
      workflowId,
      args: [{ ...config, lmcacheRef: commit.sha }],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      staticSummary: `bisect probe ${commit.sha.slice(0, 12)} ${commit.subject}`,
    });
    const run = { workflowId, runId: child.firstExecutionRunId };
    if (attempt === 1) Object.assign(record, run);
    else record.repeats = [...(record.repeats ?? []), run];
    this.running.push({ ...run, index: record.index });
    this.showProgress();
    const report = await childReport(child.result());
    this.running.splice(
      this.running.findIndex((running) => running.workflowId === workflowId),
      1,
    );
    const judgement: Judgement = report
      ? judgeProbe(this.settings.predicate, report, this.maxThroughputSlowdownPercent)
      : { outcome: 'infra', reason: `probe ${workflowId} ended without a report` };
    log.info('probe done', {
      commit: commit.sha,
      round: record.round,
      outcome: judgement.outcome,
      figure: judgement.figure,
    });
    this.showProgress();
    return judgement;
  }
}

/** A child run's report: its result, or the report its failure carries (failed checks, a failed stage). */
async function childReport(result: Promise<RunReport>): Promise<RunReport | undefined> {
  try {
    return await result;
  } catch (error) {
    if (isCancellation(error)) throw error;
    if (error instanceof ChildWorkflowFailure) {
      const details = failureOf(error.cause).details;
      if (details && Array.isArray((details as Partial<RunReport>).stages)) return details as unknown as RunReport;
    }
    return undefined;
  }
}
