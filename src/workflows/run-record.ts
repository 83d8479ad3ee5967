/**
 * What a run has done so far, and the one place that records it: each stage as it runs (status, duration,
 * attempts, retries, seed, LMCache counters), the checks, the failure that stopped the run and a cancel. From
 * that it publishes the run's search attributes and the UI's current details, and assembles the report and the
 * run's final outcome. Deterministic: part of the workflow bundle, for every workflow that runs stages.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  log,
  setCurrentDetails,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { BenchmarkOutcome } from '../activities/benchmark.js';
import { STAGES, type Config } from '../config/schema.js';
import { FailureType } from '../failures.js';
import type { CommitInfo } from '../git/repo.js';
import { keyFigures } from '../history/figures.js';
import { renderProgress } from '../report/progress.js';
import type { Check, ComparisonRow, RunReport, StageReport } from '../report/types.js';
import { verdict } from '../report/verdict.js';
import type { RetryRequest } from './hold.js';
import { verdictLine } from './run-summary.js';
import { failedStage, runVerdict, searchAttributeUpdates, type RunState, type Verdict } from './search-attributes.js';

/** What every stage activity returns besides its own result. */
export type Timed = { durationMs: number; attempt?: number };

/** Report stage names, in order; script stages go before cleanup. `select_gpus` appears in the gpu profile only. */
const REPORT_ORDER = ['build', 'select_gpus', 'launch', 'health', 'lm_eval', 'vllm_bench', 'long_doc_qa', 'cleanup'];

export interface StageFailure {
  stage: string;
  message: string;
}

/** A failure's type, message and first detail, from an activity's failure or the error itself. */
export function failureOf(error: unknown): { type?: string; message: string; details?: Record<string, unknown> } {
  const cause = error instanceof ActivityFailure && error.cause ? error.cause : error;
  if (cause instanceof ApplicationFailure) {
    return {
      type: cause.type ?? undefined,
      message: cause.message,
      details: cause.details?.[0] as Record<string, unknown> | undefined,
    };
  }
  return { message: (cause as Error).message ?? String(cause) };
}

export interface RunRecordHooks {
  /** Runs started before search attributes existed replay without them. */
  publishesSearchAttributes: boolean;
  /** Whether the run is held now (waiting for a decision, servers up). */
  held: () => boolean;
  /** Called as a stage starts. */
  onStageStart: (name: string) => void;
  /** For a failure of a stage that no worker picked up in time: the node the run is pinned to, and its message. */
  lostNodeMessage: (error: unknown, stage: string) => string | undefined;
}

export class RunRecord {
  readonly stages: StageReport[] = [];
  readonly checks: Check[] = [];
  longDocQaComparison?: ComparisonRow[];
  /** The stage failure that stopped the run, while it stands (a passing retry clears it). */
  stageFailure?: StageFailure;
  cancellation?: unknown;
  /** With LMCACHE_REF: the commit the build stage built (or found built). */
  commit?: CommitInfo;

  constructor(
    private readonly config: Config,
    private readonly hooks: RunRecordHooks,
  ) {}

  state(finished: boolean): RunState {
    return {
      profile: this.config.profile,
      model: this.config.model,
      buildId: this.config.buildId,
      stages: this.stages,
      checks: this.checks,
      figures: keyFigures(this.checks, this.config.maxThroughputSlowdownPercent),
      finished,
      cancelled: Boolean(this.cancellation),
      held: this.hooks.held(),
      overridden: this.stages.some((stage) => !stage.superseded && Object.keys(stage.overrides ?? {}).length > 0),
      commit: this.commit?.sha,
    };
  }

  /** Search attributes follow the run: at its start, when a stage fails, and when it ends. */
  publish(finished = false): void {
    if (this.hooks.publishesSearchAttributes) upsertSearchAttributes(searchAttributeUpdates(this.state(finished)));
  }

  showProgress(current: string): void {
    setCurrentDetails(renderProgress(current, this.stages));
  }

  /** The failure of the stage recorded last stops the run. */
  stopAtLastStage(error: unknown): void {
    this.stageFailure = {
      stage: this.stages[this.stages.length - 1]?.name ?? 'unknown',
      message: failureOf(error).message,
    };
  }

  /** Forgets the stages recorded after the first `count` (a node given up before launch). */
  forgetAfter(count: number): void {
    this.stages.splice(count);
  }

  /**
   * Runs one stage, recording its status and duration; rethrows its failure. A stage that completed with
   * failed checks is recorded as failed, and the run goes on.
   */
  async runStage<T extends Timed & Partial<BenchmarkOutcome>>(
    name: string,
    call: () => Promise<T>,
    retry?: RetryRequest,
  ): Promise<T> {
    this.showProgress(`running ${name}`);
    this.hooks.onStageStart(name);
    // A retry's report entry keeps the attempts before it, marked superseded, and says what it overrode.
    const retried = retry && {
      retry: retry.retry,
      ...(Object.keys(retry.overrides).length > 0 ? { overrides: retry.overrides } : {}),
    };
    const supersede = () => {
      if (retry) for (const stage of this.stages) if (stage.name === name) stage.superseded = true;
    };
    try {
      const result = await call();
      supersede();
      const failed = (result.checks ?? []).filter((check) => !check.passed).map((check) => check.name);
      const timing = {
        name,
        durationMs: result.durationMs,
        attempts: result.attempt,
        ...retried,
        ...(result.seed !== undefined ? { seed: result.seed } : {}),
        ...(result.lmcacheCounters ? { lmcacheCounters: result.lmcacheCounters } : {}),
      };
      if (failed.length === 0) {
        this.stages.push({ ...timing, status: 'passed' });
        log.info('stage passed', { stage: name, durationMs: result.durationMs, attempt: result.attempt });
      } else {
        const error = `${failed.length} ${failed.length === 1 ? 'check' : 'checks'} failed: ${failed.join(', ')}`;
        this.stages.push({ ...timing, status: 'failed', errorType: FailureType.BenchmarkCheckFailed, error });
        log.warn('checks failed', { stage: name, checks: failed });
      }
      return result;
    } catch (error) {
      const lostNode = this.hooks.lostNodeMessage(error, name);
      const failure = lostNode ? { type: FailureType.NodeLost, message: lostNode } : failureOf(error);
      supersede();
      this.stages.push({
        ...retried,
        name,
        status: isCancellation(error) ? 'cancelled' : 'failed',
        durationMs: Number(failure.details?.durationMs ?? 0),
        attempts: failure.details?.attempt as number | undefined,
        error: failure.message,
        errorType: failure.type,
      });
      log.warn('stage did not pass', { stage: name, errorType: failure.type, cancelled: isCancellation(error) });
      this.publish();
      throw error;
    }
  }

  /** A stage whose outcome is checks: a failed check does not stop the run, the other stages still report theirs. */
  async runCheckedStage(
    name: string,
    call: () => Promise<BenchmarkOutcome & Timed>,
    retry?: RetryRequest,
  ): Promise<void> {
    const outcome = await this.runStage(name, call, retry);
    // A retry's checks replace the stage's earlier ones, in their place.
    const earlier = this.checks.findIndex((check) => check.name.startsWith(`${name}.`));
    const kept = this.checks.filter((check) => !check.name.startsWith(`${name}.`));
    kept.splice(earlier === -1 ? kept.length : earlier, 0, ...outcome.checks);
    this.checks.splice(0, this.checks.length, ...kept);
    if (retry) this.longDocQaComparison = outcome.longDocQaComparison ?? this.longDocQaComparison;
    else this.longDocQaComparison ??= outcome.longDocQaComparison;
    if (outcome.checks.some((check) => !check.passed)) this.publish();
  }

  /** The first failed check, as the reason a run would fail now. */
  firstFailedCheck(): Check | undefined {
    return this.checks.find((check) => !check.passed);
  }

  /** The verdict the run would have if it ended now, unheld. */
  verdictIfFinished(): Verdict {
    return runVerdict({ ...this.state(true), held: false });
  }

  /** Stages that never ran are reported as skipped; all in pipeline order, script stages before cleanup. */
  report(run: {
    workflowId: string;
    runId: string;
    placement: RunReport['placement'];
    scriptNames: string[];
    withVerdict: boolean;
  }): RunReport {
    const ran = new Set(this.stages.map((stage) => stage.name));
    for (const stage of [...STAGES, ...run.scriptNames]) {
      if (!ran.has(stage)) this.stages.push({ name: stage, status: 'skipped', durationMs: 0 });
    }
    const order = [...REPORT_ORDER];
    order.splice(order.indexOf('cleanup'), 0, ...run.scriptNames);
    this.stages.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    const finalState = this.state(true);
    return {
      workflowId: run.workflowId,
      runId: run.runId,
      buildId: this.config.buildId,
      profile: this.config.profile,
      model: this.config.model,
      passed: !this.cancellation && !this.stageFailure && this.checks.every((check) => check.passed),
      ...(run.withVerdict ? { verdict: runVerdict(finalState) } : {}),
      resultsDir: this.config.resultsDir,
      placement: run.placement,
      ...(this.commit ? { commit: this.commit } : {}),
      stages: this.stages,
      checks: this.checks,
      longDocQaComparison: this.longDocQaComparison,
      figures: finalState.figures,
    };
  }

  /** After the report is written: the final search attributes, the UI's verdict line and the log; the verdict. */
  announce(report: RunReport): Verdict | ReturnType<typeof verdict> {
    this.publish(true);
    const finalState = this.state(true);
    // "passed — no checks selected" rather than a bare pass when the selected stages hold no check.
    const finalVerdict = runVerdict(finalState) === 'passed' ? verdict(report) : runVerdict(finalState);
    this.showProgress(verdictLine(finalVerdict, finalState.figures, failedStage(finalState)));
    const failedChecks = this.checks.filter((check) => !check.passed);
    log.info('run finished', { verdict: finalVerdict, checks: this.checks.length, failedChecks: failedChecks.length });
    return finalVerdict;
  }

  /** Ends the run as its record says: returns the report, or throws the cancel or a failure carrying the report. */
  outcome(report: RunReport): RunReport {
    // Rethrown as is, so the run ends as Canceled rather than Failed.
    if (this.cancellation) throw this.cancellation;
    if (this.stageFailure) {
      throw ApplicationFailure.create({
        type: FailureType.StageFailed,
        message: `stage ${this.stageFailure.stage} failed: ${this.stageFailure.message}`,
        nonRetryable: true,
        details: [report],
      });
    }
    const failedChecks = this.checks.filter((check) => !check.passed);
    if (failedChecks.length > 0) {
      throw ApplicationFailure.create({
        type: FailureType.ChecksFailed,
        message: `${failedChecks.length} check(s) failed: ${failedChecks.map((check) => check.name).join(', ')}`,
        nonRetryable: true,
        details: [report],
      });
    }
    return report;
  }
}
