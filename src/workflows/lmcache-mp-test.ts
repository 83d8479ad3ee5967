/**
 * The `lmcacheMpTest` workflow: build → launch → wait for health → lm_eval → vllm bench → long doc QA, and
 * cleanup whatever happens. Deterministic orchestration only: every effect is an activity, and stage
 * durations come from the activities themselves.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
  ActivityCancellationType,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { InvalidConfigError, resolveConfig, STAGES, type Config, type ConfigInput, type StageName } from '../config/schema.js';
import { FailureType, NON_RETRYABLE_TYPES } from '../failures.js';
import { keyFigures } from '../history/figures.js';
import type { Check, RunReport, StageReport } from '../verification/types.js';
import { verdictLine } from './run-summary.js';
import { failedStage, runVerdict, searchAttributeUpdates, type RunState } from './search-attributes.js';

/** Report stage names, in order. `select_gpus` appears in the gpu profile only; cleanup always runs. */
type ReportedStage = StageName | 'select_gpus' | 'cleanup';
const REPORT_ORDER: ReportedStage[] = ['build', 'select_gpus', 'launch', 'health', 'lm_eval', 'vllm_bench', 'long_doc_qa', 'cleanup'];

const BENCHMARKS = [
  { stage: 'lm_eval', activity: 'runLmEval' },
  { stage: 'vllm_bench', activity: 'runVllmBench' },
  { stage: 'long_doc_qa', activity: 'runLongDocQa' },
] as const;

function retryPolicy(maximumAttempts: number) {
  return {
    maximumAttempts,
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
  };
}

/**
 * Timeouts and retries per stage. Heartbeat timeouts are short so a lost worker's stage restarts soon. On
 * cancellation the workflow waits for the stage to stop (its tool killed) before cleaning up.
 */
function stageOptions(config: Config): Record<ReportedStage | 'report', ActivityOptions> {
  const waitForStop = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
  const benchmark = (summary: string): ActivityOptions => ({
    startToCloseTimeout: '3h',
    heartbeatTimeout: '30s',
    retry: retryPolicy(3),
    summary,
    ...waitForStop,
  });
  // Summaries name what each stage does with this run's settings, for the Temporal UI's timeline.
  return {
    build: { startToCloseTimeout: '4h', heartbeatTimeout: '2m', retry: retryPolicy(3), summary: `build ${config.image}`, ...waitForStop },
    select_gpus: {
      startToCloseTimeout: `${config.gpuWaitSeconds + 300}s`,
      heartbeatTimeout: '1m',
      retry: retryPolicy(3),
      summary: `select 2 GPUs with >= ${config.gpuMinFreeMemoryMib} MiB free`,
      ...waitForStop,
    },
    launch: { startToCloseTimeout: '10m', heartbeatTimeout: '1m', retry: retryPolicy(3), summary: `launch LMCache, vLLM and baseline (${config.profile})`, ...waitForStop },
    health: {
      startToCloseTimeout: `${config.maxWaitSeconds + 120}s`,
      heartbeatTimeout: '30s',
      retry: retryPolicy(3),
      summary: `wait for ports ${config.vllmPort}, ${config.vllmBaselinePort}, ${config.lmcachePort} (at most ${config.maxWaitSeconds} s)`,
      ...waitForStop,
    },
    lm_eval: benchmark(`lm_eval ${config.lmEvalTask} twice, ${config.limit} samples`),
    vllm_bench: benchmark(`vllm bench serve ${config.numPrompts} x ${config.randomInputLen} tokens, baseline then LMCache`),
    long_doc_qa: benchmark(`long doc QA ${config.numDocuments} x ${config.documentLength} tokens, baseline then LMCache`),
    cleanup: { startToCloseTimeout: '10m', heartbeatTimeout: '1m', retry: retryPolicy(10), summary: 'save log tails, stop and remove containers' },
    report: { startToCloseTimeout: '1m', retry: retryPolicy(5), summary: 'write report.json, report.md, junit.xml' },
  };
}

function failureOf(error: unknown): { type?: string; message: string; details?: Record<string, unknown> } {
  const cause = error instanceof ActivityFailure && error.cause ? error.cause : error;
  if (cause instanceof ApplicationFailure) {
    return { type: cause.type ?? undefined, message: cause.message, details: cause.details?.[0] as Record<string, unknown> | undefined };
  }
  return { message: (cause as Error).message ?? String(cause) };
}

export async function lmcacheMpTest(input?: ConfigInput): Promise<RunReport> {
  const info = workflowInfo();
  let config: Config;
  try {
    config = resolveConfig(input, { workflowId: info.workflowId });
  } catch (error) {
    if (error instanceof InvalidConfigError) {
      throw ApplicationFailure.create({ type: FailureType.InvalidConfig, message: error.message, nonRetryable: true });
    }
    throw error;
  }

  const options = stageOptions(config);
  const act = (stage: keyof typeof options) => proxyActivities<PipelineActivities>(options[stage]);
  const stages: StageReport[] = [];
  const checks: Check[] = [];
  let comparisonTable: string | undefined;
  let stageFailure: { stage: string; message: string } | undefined;
  let cancellation: unknown;

  // Search attributes follow the run: at its start, when a stage fails, and when it ends. Runs started before
  // this existed replay without them (the patch marker keeps their histories valid).
  const tracksSearchAttributes = patched('search-attributes');
  const runState = (finished: boolean): RunState => ({
    profile: config.profile,
    model: config.model,
    buildId: config.buildId,
    stages,
    checks,
    figures: keyFigures(checks, config.maxThroughputSlowdownPercent),
    finished,
    cancelled: Boolean(cancellation),
  });
  const publishState = (finished = false) => {
    if (tracksSearchAttributes) upsertSearchAttributes(searchAttributeUpdates(runState(finished)));
  };
  publishState();

  const showProgress = (current: string) =>
    setCurrentDetails(
      [`**${current}**`, '', '| stage | status | seconds |', '|---|---|---|', ...stages.map((s) => `| ${s.name} | ${s.status} | ${(s.durationMs / 1000).toFixed(1)} |`)].join('\n'),
    );

  /** Runs one stage, recording its status and duration; rethrows its failure. */
  async function runStage<T extends { durationMs: number; attempt?: number }>(name: ReportedStage, call: () => Promise<T>): Promise<T> {
    showProgress(`running ${name}`);
    try {
      const result = await call();
      stages.push({ name, status: 'passed', durationMs: result.durationMs, attempts: result.attempt });
      return result;
    } catch (error) {
      const failure = failureOf(error);
      stages.push({
        name,
        status: isCancellation(error) ? 'cancelled' : 'failed',
        durationMs: Number(failure.details?.durationMs ?? 0),
        attempts: failure.details?.attempt as number | undefined,
        error: failure.message,
        errorType: failure.type,
      });
      if (failure.type === FailureType.BenchmarkCheckFailed) {
        checks.push(...((failure.details?.checks as Check[] | undefined) ?? []));
      }
      publishState();
      throw error;
    }
  }

  const selected = (stage: StageName) => config.stages.includes(stage);
  const payload = { config, workflowId: info.workflowId };
  try {
    if (selected('build')) await runStage('build', () => act('build').buildImage(config));
    if (selected('launch')) {
      const gpus =
        config.profile === 'gpu' ? await runStage('select_gpus', () => act('select_gpus').selectGpus(config)) : undefined;
      await runStage('launch', () => act('launch').launchContainers({ ...payload, gpus }));
    }
    if (selected('health')) await runStage('health', () => act('health').waitForHealth(payload));
    for (const { stage, activity } of BENCHMARKS) {
      if (!selected(stage)) continue;
      try {
        const outcome = await runStage(stage, () => act(stage)[activity](payload));
        checks.push(...outcome.checks);
        comparisonTable ??= outcome.comparisonTable;
      } catch (error) {
        const failure = failureOf(error);
        // A failed check does not stop the run: the other benchmarks still report theirs.
        if (failure.type !== FailureType.BenchmarkCheckFailed) throw error;
        comparisonTable ??= failure.details?.comparisonTable as string | undefined;
      }
    }
  } catch (error) {
    if (isCancellation(error)) cancellation = error;
    else stageFailure = { stage: stages[stages.length - 1]?.name ?? 'unknown', message: failureOf(error).message };
  } finally {
    // Cleanup must run even when the workflow is being cancelled.
    await CancellationScope.nonCancellable(async () => {
      try {
        await runStage('cleanup', () => act('cleanup').cleanupContainers({ workflowId: info.workflowId, resultsDir: config.resultsDir }));
      } catch (error) {
        stageFailure ??= { stage: 'cleanup', message: failureOf(error).message };
      }
    });
  }

  const ran = new Set(stages.map((s) => s.name));
  for (const stage of STAGES) {
    if (!ran.has(stage)) stages.push({ name: stage, status: 'skipped', durationMs: 0 });
  }
  stages.sort((a, b) => REPORT_ORDER.indexOf(a.name as ReportedStage) - REPORT_ORDER.indexOf(b.name as ReportedStage));
  const finalState = runState(true);
  const report: RunReport = {
    workflowId: info.workflowId,
    runId: info.runId,
    buildId: config.buildId,
    profile: config.profile,
    model: config.model,
    passed: !cancellation && !stageFailure && checks.every((check) => check.passed),
    resultsDir: config.resultsDir,
    stages,
    checks,
    comparisonTable,
    figures: finalState.figures,
  };
  const historyOptions = { regressionMarginPercent: config.regressionMarginPercent, historyRuns: config.historyRuns };
  await CancellationScope.nonCancellable(() => act('report').writeReport(report, historyOptions));
  publishState(true);
  showProgress(verdictLine(runVerdict(finalState), finalState.figures, failedStage(finalState)));

  // Rethrown as is, so the run ends as Canceled rather than Failed.
  if (cancellation) throw cancellation;
  if (stageFailure) {
    throw ApplicationFailure.create({
      type: FailureType.StageFailed,
      message: `stage ${stageFailure.stage} failed: ${stageFailure.message}`,
      nonRetryable: true,
      details: [report],
    });
  }
  const failedChecks = checks.filter((check) => !check.passed);
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
