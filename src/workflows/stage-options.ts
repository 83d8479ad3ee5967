/**
 * Timeouts, heartbeats, retries and UI summaries per stage. Deterministic: part of the workflow bundle.
 */
import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import type { Config } from '../config/schema.js';
import type { ScriptStage } from '../config/scripts.js';
import { NON_RETRYABLE_TYPES } from '../failures.js';
import { portRolesFor } from '../placement/placement.js';

export function retryPolicy(maximumAttempts: number) {
  return {
    maximumAttempts,
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
  };
}

/** Stages with options of their own; `select_gpus` is the lease (GPUs in the gpu profile, ports in both). */
export type OptionedStage =
  | 'build'
  | 'select_gpus'
  | 'launch'
  | 'health'
  | 'ensure_servers'
  | 'lm_eval'
  | 'vllm_bench'
  | 'long_doc_qa'
  | 'cleanup'
  | 'report';

/**
 * Heartbeat timeouts are short so a lost worker's stage restarts soon. On cancellation the workflow waits for
 * the stage to stop (its tool killed) before cleaning up.
 */
export function stageOptions(config: Config): Record<OptionedStage, ActivityOptions> {
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
export function scriptStageOptions(config: Config, script: ScriptStage): ActivityOptions {
  return {
    startToCloseTimeout: `${Math.ceil(config.scriptTimeoutMinutes * 60) + 120}s`,
    heartbeatTimeout: '30s',
    retry: retryPolicy(3),
    summary: `script ${script.path}`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
}
