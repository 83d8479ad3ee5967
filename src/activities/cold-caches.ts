/**
 * A retried benchmark measures what a first attempt measures: the servers stayed up, so their caches remember
 * the failed attempt. Before a retry, LMCache's store is emptied by restarting this run's LMCache container
 * (the vLLM connector reconnects by itself) and both vLLM prefix caches by `POST /reset_prefix_cache` (served
 * with VLLM_SERVER_DEV_MODE=1); then the servers are waited for as in the health stage.
 */
import { activityInfo, log } from '@temporalio/activity';
import type { PlacedStageInput } from '../placement/placement.js';
import { docker } from '../docker/client.js';
import { containersOf } from '../docker/containers.js';
import { waitUntilHealthy } from './health.js';
import { httpPost } from './probes.js';

/** How long Docker gives the LMCache server to stop before killing it: its store is thrown away anyway. */
const RESTART_GRACE_SECONDS = 2;

export interface BenchmarkInput extends PlacedStageInput {
  /** Which `retryStage` of the stage this is; absent for the run's own attempts. */
  retry?: number;
}

/** Whether this attempt follows another of the same stage: an automatic retry or a `retryStage`. */
export function isRetriedAttempt(input: BenchmarkInput): boolean {
  return activityInfo().attempt > 1 || (input.retry ?? 0) > 0;
}

export async function emptyCaches(input: BenchmarkInput): Promise<void> {
  const { config, workflowId } = input;
  const lmcache = (await containersOf(workflowId)).find((container) => container.role === 'lmcache');
  if (!lmcache) throw new Error(`no LMCache container of workflow ${workflowId} to restart`);
  await docker().getContainer(lmcache.id).restart({ t: RESTART_GRACE_SECONDS });
  await waitUntilHealthy(input);
  for (const port of [config.vllmBaselinePort, config.vllmPort]) {
    await httpPost(`http://127.0.0.1:${port}/reset_prefix_cache`);
  }
  log.info('caches emptied before a retried attempt', { lmcache: lmcache.name, attempt: activityInfo().attempt });
}

/**
 * vllm_bench's seed for this attempt: the run's seed on a first attempt, a different one on every retry (its
 * prompts must not be the ones the failed attempt left in the caches). Recorded in the report.
 */
export function attemptSeed(randomSeed: number, input: Pick<BenchmarkInput, 'retry'>, attempt: number): number {
  // Automatic attempts are few (see the retry policies): 1000 apart keeps retryStage's seeds from meeting them.
  return randomSeed + 1000 * (input.retry ?? 0) + (attempt - 1);
}
