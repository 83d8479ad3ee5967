/**
 * The `lmcacheMpTest` workflow: build → launch → wait for health → lm_eval → vllm bench → long doc QA → the
 * run's test scripts, and cleanup whatever happens. Deterministic orchestration only: every effect is an
 * activity, and stage durations come from the activities themselves.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
  ActivityCancellationType,
  allHandlersFinished,
  condition,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { BenchmarkOutcome } from '../activities/benchmark.js';
import type { CommitInfo } from '../git/repo.js';
import type { PipelineActivities } from '../activities/index.js';
import {
  hasNodeInputs,
  InvalidConfigError,
  resolveConfig,
  STAGES,
  type Config,
  type ConfigInput,
  type StageName,
} from '../config/schema.js';
import { scriptStagesOf, type ScriptStage } from '../config/scripts.js';
import { FailureType, NON_RETRYABLE_TYPES } from '../failures.js';
import {
  pinnedPortsOf,
  portRolesFor,
  placedConfig,
  placementFromConfig,
  type PlacedStageInput,
  type RunPlacement,
} from '../placement/placement.js';
import { keyFigures } from '../history/figures.js';
import { renderProgress } from '../report/progress.js';
import type { Check, ComparisonRow, RunReport, StageReport } from '../report/types.js';
import { verdict } from '../report/verdict.js';
import { Hold, type RetriedStage, type RetryRequest } from './hold.js';
import { CLAIM_OPTIONS, MAX_NODE_CLAIMS, nodeLost, nodeLostMessage, pinnedTo } from './placement.js';
import { verdictLine } from './run-summary.js';
import { failedStage, runVerdict, searchAttributeUpdates, type RunState } from './search-attributes.js';

/** Report stage names, in order; script stages go before cleanup. `select_gpus` appears in the gpu profile only. */
type ReportedStage = StageName | 'select_gpus' | 'cleanup';
const REPORT_ORDER: ReportedStage[] = [
  'build',
  'select_gpus',
  'launch',
  'health',
  'lm_eval',
  'vllm_bench',
  'long_doc_qa',
  'cleanup',
];

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
function stageOptions(config: Config): Record<ReportedStage | 'report' | 'ensure_servers', ActivityOptions> {
  const waitForStop = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
  const benchmark = (summary: string): ActivityOptions => ({
    startToCloseTimeout: '3h',
    heartbeatTimeout: '30s',
    retry: retryPolicy(3),
    summary,
    ...waitForStop,
  });
  // Summaries name what each stage does with this run's settings, for the Temporal UI's timeline.
  const lmcacheHttp = config.lmcacheServerModule === 'http_server' ? ` (LMCache HTTP ${config.lmcacheHttpPort})` : '';
  return {
    build: {
      startToCloseTimeout: '4h',
      heartbeatTimeout: '30s',
      retry: retryPolicy(3),
      summary: `build ${config.image}${config.lmcacheRef ? ` at ${config.lmcacheRef}` : ''}`,
      ...waitForStop,
    },
    select_gpus: {
      startToCloseTimeout: `${config.gpuWaitSeconds + 300}s`,
      heartbeatTimeout: '1m',
      retry: retryPolicy(3),
      summary: `lease 2 GPUs with >= ${config.gpuMinFreeMemoryMib} MiB free and ${portRolesFor(config.lmcacheServerModule).length} ports`,
      ...waitForStop,
    },
    launch: {
      startToCloseTimeout: '10m',
      heartbeatTimeout: '30s',
      retry: retryPolicy(3),
      summary: `launch LMCache, vLLM and baseline (${config.profile})`,
      ...waitForStop,
    },
    health: {
      startToCloseTimeout: `${config.maxWaitSeconds + 120}s`,
      heartbeatTimeout: '30s',
      retry: retryPolicy(3),
      summary: `wait for ports ${config.vllmPort}, ${config.vllmBaselinePort}, ${config.lmcachePort}${lmcacheHttp} (at most ${config.maxWaitSeconds} s)`,
      ...waitForStop,
    },
    ensure_servers: {
      startToCloseTimeout: `${config.maxWaitSeconds + 720}s`,
      heartbeatTimeout: '1m',
      retry: retryPolicy(3),
      summary: 'make sure this run’s servers are up and healthy',
      ...waitForStop,
    },
    lm_eval: benchmark(`lm_eval ${config.lmEvalTask} twice, ${config.limit} samples`),
    vllm_bench: benchmark(
      `vllm bench serve ${config.numPrompts} x ${config.randomInputLen} tokens, baseline then LMCache`,
    ),
    long_doc_qa: benchmark(
      `long doc QA ${config.numDocuments} x ${config.documentLength} tokens, baseline then LMCache`,
    ),
    cleanup: {
      startToCloseTimeout: '10m',
      heartbeatTimeout: '1m',
      retry: retryPolicy(10),
      summary: 'save log tails, stop and remove containers',
    },
    report: { startToCloseTimeout: '1m', retry: retryPolicy(5), summary: 'write report.json, report.md, junit.xml' },
  };
}

/** A script stage may run as long as SCRIPT_TIMEOUT_MINUTES; the activity ends it a little before Temporal would. */
function scriptStageOptions(config: Config, script: ScriptStage): ActivityOptions {
  return {
    startToCloseTimeout: `${Math.ceil(config.scriptTimeoutMinutes * 60) + 120}s`,
    heartbeatTimeout: '30s',
    retry: retryPolicy(3),
    summary: `script ${script.path}`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
}

type Timed = { durationMs: number; attempt?: number };

function failureOf(error: unknown): { type?: string; message: string; details?: Record<string, unknown> } {
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
  const scriptStages = scriptStagesOf(config);
  // Before anything starts: what the input names on the worker's node (the gpu checkout's files, a model path,
  // the scripts) is there. Runs from before this covered more than scripts replay the scripts-only check.
  const checksInputFiles = patched('input-files');
  if (checksInputFiles ? hasNodeInputs(config) : scriptStages.length > 0) {
    const check = proxyActivities<PipelineActivities>({
      startToCloseTimeout: '1m',
      retry: retryPolicy(3),
      summary: 'check the files the input names',
    });
    try {
      await (checksInputFiles ? check.checkInputFiles(config) : check.checkScriptFiles(config));
    } catch (error) {
      const failure = failureOf(error);
      if (failure.type !== FailureType.InvalidConfig) throw error;
      const { message } = failure;
      throw ApplicationFailure.create({ type: FailureType.InvalidConfig, message, nonRetryable: true });
    }
  }

  let options = stageOptions(config);
  // Once a node is claimed every stage goes to its own task queue (runs recorded before that: the shared one).
  let node: string | undefined;
  let placement: RunPlacement | undefined;
  const onNode = (): ActivityOptions => (node ? pinnedTo(info.taskQueue, node, placement !== undefined) : {});
  const act = (stage: keyof typeof options) => proxyActivities<PipelineActivities>({ ...options[stage], ...onNode() });
  const stages: StageReport[] = [];
  const checks: Check[] = [];
  let longDocQaComparison: ComparisonRow[] | undefined;
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
    held: hold.isHeld,
    overridden: stages.some((stage) => !stage.superseded && Object.keys(stage.overrides ?? {}).length > 0),
    commit: commit?.sha,
  });
  const publishState = (finished = false) => {
    if (tracksSearchAttributes) upsertSearchAttributes(searchAttributeUpdates(runState(finished)));
  };

  const showProgress = (current: string) => setCurrentDetails(renderProgress(current, stages));

  /**
   * Runs one stage, recording its status and duration; rethrows its failure. A stage that completed with
   * failed checks is recorded as failed, and the run goes on.
   */
  async function runStage<T extends Timed & Partial<BenchmarkOutcome>>(
    name: string,
    call: () => Promise<T>,
    retry?: RetryRequest,
  ): Promise<T> {
    showProgress(`running ${name}`);
    hold.running(name);
    // A retry's report entry keeps the attempts before it, marked superseded, and says what it overrode.
    const retried = retry && {
      retry: retry.retry,
      ...(Object.keys(retry.overrides).length > 0 ? { overrides: retry.overrides } : {}),
    };
    const supersede = () => {
      if (retry) for (const stage of stages) if (stage.name === name) stage.superseded = true;
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
        stages.push({ ...timing, status: 'passed' });
        log.info('stage passed', { stage: name, durationMs: result.durationMs, attempt: result.attempt });
      } else {
        const error = `${failed.length} ${failed.length === 1 ? 'check' : 'checks'} failed: ${failed.join(', ')}`;
        stages.push({ ...timing, status: 'failed', errorType: FailureType.BenchmarkCheckFailed, error });
        log.warn('checks failed', { stage: name, checks: failed });
      }
      return result;
    } catch (error) {
      const failure =
        node && nodeLost(error)
          ? { type: FailureType.NodeLost, message: nodeLostMessage(node, name, placement !== undefined) }
          : failureOf(error);
      supersede();
      stages.push({
        ...retried,
        name,
        status: isCancellation(error) ? 'cancelled' : 'failed',
        durationMs: Number(failure.details?.durationMs ?? 0),
        attempts: failure.details?.attempt as number | undefined,
        error: failure.message,
        errorType: failure.type,
      });
      log.warn('stage did not pass', { stage: name, errorType: failure.type, cancelled: isCancellation(error) });
      publishState();
      throw error;
    }
  }

  /** A stage whose outcome is checks: a failed check does not stop the run, the other stages still report theirs. */
  async function runCheckedStage(
    name: string,
    call: () => Promise<BenchmarkOutcome & Timed>,
    retry?: RetryRequest,
  ): Promise<void> {
    const outcome = await runStage(name, call, retry);
    // A retry's checks replace the stage's earlier ones, in their place.
    const earlier = checks.findIndex((check) => check.name.startsWith(`${name}.`));
    const kept = checks.filter((check) => !check.name.startsWith(`${name}.`));
    kept.splice(earlier === -1 ? kept.length : earlier, 0, ...outcome.checks);
    checks.splice(0, checks.length, ...kept);
    if (retry) longDocQaComparison = outcome.longDocQaComparison ?? longDocQaComparison;
    else longDocQaComparison ??= outcome.longDocQaComparison;
    if (outcome.checks.some((check) => !check.passed)) publishState();
  }

  const selected = (stage: StageName) => config.stages.includes(stage);

  let commit: CommitInfo | undefined;
  const build = async () => {
    const built = await runStage('build', () => act('build').buildImage(config));
    // Later stages run what the build made or found: with LMCACHE_REF, the commit's own tag.
    config.image = built.image;
    commit = built.commit;
    if (built.skipped) stages[stages.length - 1].detail = built.skipped;
  };

  /**
   * Claims a node (whichever worker picks the claim up on the shared queue), builds there and leases two GPUs and
   * ports. A node whose worker is gone before launch is left for another, up to MAX_NODE_CLAIMS nodes.
   */
  async function placeRun(): Promise<void> {
    for (let claim = 1; ; claim++) {
      const recorded = stages.length;
      node = (await proxyActivities<PipelineActivities>(CLAIM_OPTIONS).claimNode()).node;
      log.info('node claimed', { node, claim });
      try {
        if (selected('build')) await build();
        if (!selected('launch')) return;
        const lease = () =>
          act('select_gpus').leaseResources({ config, workflowId: info.workflowId, pinnedPorts: pinnedPortsOf(input) });
        placement = (await runStage('select_gpus', lease)).placement;
        return;
      } catch (error) {
        if (!nodeLost(error) || claim >= MAX_NODE_CLAIMS) throw error;
        log.warn('node lost before launch; claiming another', { node, claim });
        stages.splice(recorded);
        node = undefined;
      }
    }
  }

  // Runs recorded before node placement replay the path they took: the shared queue and the configured ports.
  const placesRuns = patched('node-placement');
  let payload: PlacedStageInput = { config, workflowId: info.workflowId };
  /** Claims a node and builds there, leases GPUs and ports; every later stage gets the placement in its input. */
  const place = async () => {
    if (placesRuns) await placeRun();
    else {
      if (selected('build')) await build();
      if (selected('launch') && config.profile === 'gpu') {
        const gpus = await runStage('select_gpus', () => act('select_gpus').selectGpus(config));
        placement = placementFromConfig(config, info.taskQueue, gpus);
      }
    }
    // Stages that find servers another run launched (STAGES without launch) use the configured ports.
    placement ??= placementFromConfig(config, node ?? info.taskQueue);
    payload = { ...payload, placement };
    options = stageOptions(placedConfig(config, placement));
  };
  // Runs from before holding existed replay without the servers check and the hold.
  const holds = patched('hold-and-retry');
  /**
   * Before a stage that needs the servers: this run's three containers exist and are healthy, relaunching a
   * missing one (a reset run's, cleaned up) and, for a retry, a dead one. Cheap when all is up.
   */
  const ensureServers = async (retry?: RetryRequest) => {
    if (!holds || !selected('launch')) return;
    await act('ensure_servers').ensureServers({ ...payload, relaunchDead: retry !== undefined });
  };
  type Step = { name: string; retryable: boolean; run: (retry?: RetryRequest) => Promise<unknown> };
  const steps: Step[] = [];
  // Placement (the node, its build, the lease) and launch are never retried by hand: the servers come from them.
  steps.push({ name: 'placement', retryable: false, run: place });
  if (selected('launch')) {
    steps.push({
      name: 'launch',
      retryable: false,
      run: () => runStage('launch', () => act('launch').launchContainers(payload)),
    });
  }
  if (selected('health')) {
    steps.push({
      name: 'health',
      retryable: true,
      run: (retry) =>
        runStage(
          'health',
          async () => {
            if (retry) await ensureServers(retry);
            return act('health').waitForHealth(payload);
          },
          retry,
        ),
    });
  }
  for (const { stage, activity } of BENCHMARKS) {
    if (!selected(stage)) continue;
    steps.push({
      name: stage,
      retryable: true,
      run: (retry) =>
        runCheckedStage(
          stage,
          async () => {
            await ensureServers(retry);
            const input = retry ? { ...payload, config: retry.config, retry: retry.retry } : payload;
            return act(stage)[activity](input);
          },
          retry,
        ),
    });
  }
  for (const script of scriptStages) {
    steps.push({
      name: script.name,
      retryable: true,
      run: (retry) => {
        const activity = proxyActivities<PipelineActivities>({
          ...scriptStageOptions(retry?.config ?? config, script),
          ...onNode(),
        });
        return runCheckedStage(
          script.name,
          async () => {
            await ensureServers(retry);
            return activity.runScriptStage({ ...payload, config: retry?.config ?? config, stage: script });
          },
          retry,
        );
      },
    });
  }
  /** The step a stage failure stopped the run at; undefined once every step has run. */
  let stoppedAt: number | undefined;
  const runSteps = async (from: number) => {
    for (let index = from; index < steps.length; index++) {
      try {
        await steps[index].run();
      } catch (error) {
        if (isCancellation(error)) throw error;
        stoppedAt = index;
        stageFailure = { stage: stages[stages.length - 1]?.name ?? 'unknown', message: failureOf(error).message };
        return;
      }
    }
    stoppedAt = undefined;
  };

  const hold = new Hold({
    retryableStages: steps.filter((step) => step.retryable).map((step) => step.name),
    ranStages: () => stages.map((stage) => stage.name),
    config,
    onPhaseChange: () => publishState(),
    verdict: () => runVerdict({ ...runState(true), held: false }),
    retry: async (request): Promise<RetriedStage> => {
      const index = steps.findIndex((step) => step.name === request.stage);
      try {
        await steps[index].run(request);
        if (index === stoppedAt) stageFailure = undefined;
      } catch (error) {
        if (isCancellation(error)) throw error;
        if (index === stoppedAt) stageFailure = { stage: request.stage, message: failureOf(error).message };
      }
      const outcome = stages[stages.length - 1];
      publishState();
      return {
        stage: request.stage,
        status: outcome.status,
        retry: request.retry,
        checks: checks.filter((check) => check.name.startsWith(`${request.stage}.`)),
        ...(outcome.error ? { error: outcome.error } : {}),
        ...(outcome.overrides ? { overrides: outcome.overrides } : {}),
        ...(outcome.seed !== undefined ? { seed: outcome.seed } : {}),
      };
    },
  });
  publishState();

  /** Why the run would fail now, if it would: the stage it is held on and the reason. */
  const holdReason = (): { stage: string; reason: string } | undefined => {
    if (stageFailure) {
      if (stoppedAt === undefined || !steps[stoppedAt].retryable) return undefined;
      return { stage: steps[stoppedAt].name, reason: stageFailure.message };
    }
    const failed = checks.find((check) => !check.passed);
    if (!failed) return undefined;
    const stage = steps.find((step) => failed.name.startsWith(`${step.name}.`))?.name ?? failed.name.split('.')[0];
    return { stage, reason: `check ${failed.name} failed${failed.detail ? `: ${failed.detail}` : ''}` };
  };

  try {
    await runSteps(0);
    for (let held = holdReason(); holds && config.onFailure === 'hold' && held; held = holdReason()) {
      const decision = await hold.wait(held.stage, held.reason, config.holdMinutes);
      if (decision !== 'retried') break;
      // The retried stage passed where it had stopped the run: the stages it had stopped run now.
      if (stoppedAt !== undefined && !stageFailure) await runSteps(stoppedAt + 1);
      publishState();
    }
  } catch (error) {
    if (isCancellation(error)) cancellation = error;
    else stageFailure = { stage: stages[stages.length - 1]?.name ?? 'unknown', message: failureOf(error).message };
  } finally {
    // Cleanup must run even when the workflow is being cancelled.
    await CancellationScope.nonCancellable(async () => {
      try {
        await runStage('cleanup', () =>
          act('cleanup').cleanupContainers({ workflowId: info.workflowId, resultsDir: config.resultsDir }),
        );
      } catch (error) {
        stageFailure ??= { stage: 'cleanup', message: failureOf(error).message };
      }
    });
  }
  // A cancel that arrived while cleanup ran (it cannot be interrupted) still ends the run as Canceled.
  if (!cancellation && CancellationScope.current().consideredCancelled && patched('cancel-during-cleanup')) {
    cancellation = new CancelledFailure('the run was cancelled while it cleaned up');
  }

  const ran = new Set(stages.map((s) => s.name));
  const scriptNames = scriptStages.map((script) => script.name);
  for (const stage of [...STAGES, ...scriptNames]) {
    if (!ran.has(stage)) stages.push({ name: stage, status: 'skipped', durationMs: 0 });
  }
  const reportOrder: string[] = [...REPORT_ORDER];
  reportOrder.splice(reportOrder.indexOf('cleanup'), 0, ...scriptNames);
  stages.sort((a, b) => reportOrder.indexOf(a.name) - reportOrder.indexOf(b.name));
  const finalState = runState(true);
  const report: RunReport = {
    workflowId: info.workflowId,
    runId: info.runId,
    buildId: config.buildId,
    profile: config.profile,
    model: config.model,
    passed: !cancellation && !stageFailure && checks.every((check) => check.passed),
    ...(holds ? { verdict: runVerdict(finalState) } : {}),
    resultsDir: config.resultsDir,
    placement,
    ...(commit ? { commit } : {}),
    stages,
    checks,
    longDocQaComparison,
    figures: finalState.figures,
  };
  const historyOptions = { regressionMarginPercent: config.regressionMarginPercent, historyRuns: config.historyRuns };
  await CancellationScope.nonCancellable(() => act('report').writeReport(report, historyOptions));
  publishState(true);
  // "passed — no checks selected" rather than a bare pass when the selected stages hold no check.
  const finalVerdict = runVerdict(finalState) === 'passed' ? verdict(report) : runVerdict(finalState);
  showProgress(verdictLine(finalVerdict, finalState.figures, failedStage(finalState)));
  const failedChecks = checks.filter((check) => !check.passed);
  log.info('run finished', { verdict: finalVerdict, checks: checks.length, failedChecks: failedChecks.length });
  hold.finished(finalVerdict);
  // A `finish` update answers before the run ends; its handler must have returned.
  await condition(allHandlersFinished);

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
