/**
 * The `lmcacheMpTest` workflow: claim a node, build, lease GPUs and ports, launch, wait for health, lm_eval,
 * vllm bench, long doc QA, the run's test scripts, a hold for a retry when asked, and cleanup whatever happens.
 * Deterministic orchestration only: every effect is an activity. The stages live in pipeline.ts, the run's
 * record (stages, checks, search attributes, report) in run-record.ts.
 */
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { hasNodeInputs, InvalidConfigError, resolveConfig, type Config, type ConfigInput } from '../config/schema.js';
import { scriptStagesOf, type ScriptStage } from '../config/scripts.js';
import { FailureType } from '../failures.js';
import type { RunReport } from '../report/types.js';
import { Hold } from './hold.js';
import { Pipeline } from './pipeline.js';
import { failureOf, RunRecord } from './run-record.js';
import { retryPolicy } from './stage-options.js';

export async function lmcacheMpTest(input?: ConfigInput): Promise<RunReport> {
  const info = workflowInfo();
  const config = validConfig(input, info.workflowId);
  const scriptStages = scriptStagesOf(config);
  await checkInputFiles(config, scriptStages);

  // Runs started before a feature replay the path they took (the markers keep their histories valid).
  const publishesSearchAttributes = patched('search-attributes');
  const versions = { placesRuns: patched('node-placement'), holds: patched('hold-and-retry') };
  let hold: Hold | undefined = undefined;
  const record: RunRecord = new RunRecord(config, {
    publishesSearchAttributes,
    held: () => hold?.isHeld ?? false,
    onStageStart: (name) => hold?.running(name),
    lostNodeMessage: (error, stage) => pipeline.lostNodeMessage(error, stage),
  });
  const pipeline = new Pipeline(config, input, scriptStages, record, versions);
  hold = new Hold({
    retryableStages: pipeline.retryableStages,
    ranStages: () => record.stages.map((stage) => stage.name),
    config,
    onPhaseChange: () => record.publish(),
    verdict: () => record.verdictIfFinished(),
    retry: (request) => pipeline.retry(request),
  });
  record.publish();

  try {
    await pipeline.runFrom(0);
    for (
      let held = pipeline.holdReason();
      versions.holds && config.onFailure === 'hold' && held;
      held = pipeline.holdReason()
    ) {
      if ((await hold.wait(held.stage, held.reason, config.holdMinutes)) !== 'retried') break;
      await pipeline.resumeAfterRetry();
      record.publish();
    }
  } catch (error) {
    if (isCancellation(error)) record.cancellation = error;
    else record.stopAtLastStage(error);
  } finally {
    // Cleanup must run even when the workflow is being cancelled.
    await CancellationScope.nonCancellable(async () => {
      try {
        await pipeline.cleanup();
      } catch (error) {
        record.stageFailure ??= { stage: 'cleanup', message: failureOf(error).message };
      }
    });
  }
  // A cancel that arrived while cleanup ran (it cannot be interrupted) still ends the run as Canceled.
  if (!record.cancellation && CancellationScope.current().consideredCancelled && patched('cancel-during-cleanup')) {
    record.cancellation = new CancelledFailure('the run was cancelled while it cleaned up');
  }

  const report = record.report({
    workflowId: info.workflowId,
    runId: info.runId,
    placement: pipeline.placement,
    scriptNames: scriptStages.map((script) => script.name),
    withVerdict: versions.holds,
  });
  await CancellationScope.nonCancellable(() => pipeline.writeReport(report));
  hold.finished(record.announce(report));
  // A `finish` update answers before the run ends; its handler must have returned.
  await condition(allHandlersFinished);
  return record.outcome(report);
}

/** The run's configuration, or a non-retryable InvalidConfig failure that names what is wrong. */
function validConfig(input: ConfigInput | undefined, workflowId: string): Config {
  try {
    return resolveConfig(input, { workflowId });
  } catch (error) {
    if (error instanceof InvalidConfigError) {
      throw ApplicationFailure.create({ type: FailureType.InvalidConfig, message: error.message, nonRetryable: true });
    }
    throw error;
  }
}

/**
 * Before anything starts: what the input names on the worker's node (the gpu checkout's files, a model path, the
 * scripts) is there. Runs from before this covered more than scripts replay the scripts-only check.
 */
async function checkInputFiles(config: Config, scriptStages: ScriptStage[]): Promise<void> {
  const checksInputFiles = patched('input-files');
  if (!(checksInputFiles ? hasNodeInputs(config) : scriptStages.length > 0)) return;
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
    throw ApplicationFailure.create({ type: FailureType.InvalidConfig, message: failure.message, nonRetryable: true });
  }
}
