/**
 * A retried benchmark measures what a first attempt measures: the servers stayed up, so their caches remember
 * the failed attempt. Before a retry, LMCache's store is emptied by its own `clear` operation, checked by its L1
 * usage gauge falling to 0 (a store still in flight keeps its chunk, so it is asked again); if it will not empty,
 * this run's LMCache container is restarted (the vLLM connector registers again by itself). Both vLLM prefix
 * caches are emptied by `POST /reset_prefix_cache` (served with VLLM_SERVER_DEV_MODE=1); then the servers are
 * waited for as in the health stage.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { activityInfo, log } from '@temporalio/activity';
import type { PlacedStageInput } from '../placement/placement.js';
import { docker } from '../docker/client.js';
import { containersOf } from '../docker/containers.js';
import { LmcacheMpClient } from '../lmcache-mp/client.js';
import { waitUntilHealthy } from './health.js';
import { lmcacheMetricsPort, readLmcacheCounters } from './lmcache-metrics.js';
import { httpPost } from './probes.js';

/** How long Docker gives the LMCache server to stop before killing it: its store is thrown away anyway. */
const RESTART_GRACE_SECONDS = 2;
/** `clear` is asked this often, CLEAR_POLL_MS apart, before the restart is used instead. */
const CLEAR_ATTEMPTS = 10;
const CLEAR_POLL_MS = 200;
const CLEAR_TIMEOUT_MS = 5000;

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
  const how = (await clearLmcache(config.lmcachePort, lmcacheMetricsPort(input.placement)))
    ? 'cleared'
    : await restartLmcache(workflowId);
  await waitUntilHealthy(input);
  for (const port of [config.vllmBaselinePort, config.vllmPort]) {
    await httpPost(`http://127.0.0.1:${port}/reset_prefix_cache`);
  }
  log.info('caches emptied before a retried attempt', { lmcache: how, attempt: activityInfo().attempt });
}

/** True once LMCache's L1 holds nothing; false when `clear` does not get it there (or cannot be asked). */
async function clearLmcache(port: number, metricsPort: number): Promise<boolean> {
  const client = new LmcacheMpClient(`tcp://127.0.0.1:${port}`, CLEAR_TIMEOUT_MS);
  try {
    for (let attempt = 0; attempt < CLEAR_ATTEMPTS; attempt++) {
      await client.clear();
      const counters = await readLmcacheCounters(metricsPort);
      if ('usageRatio' in counters && counters.usageRatio === 0) return true;
      await sleep(CLEAR_POLL_MS);
    }
    log.warn('LMCache clear left its L1 in use; restarting it instead', { port });
  } catch (error) {
    log.warn('LMCache clear failed; restarting it instead', { port, error: (error as Error).message });
  } finally {
    client.close();
  }
  return false;
}

async function restartLmcache(workflowId: string): Promise<string> {
  const lmcache = (await containersOf(workflowId)).find((container) => container.role === 'lmcache');
  if (!lmcache) throw new Error(`no LMCache container of workflow ${workflowId} to restart`);
  await docker().getContainer(lmcache.id).restart({ t: RESTART_GRACE_SECONDS });
  return `restarted ${lmcache.name}`;
}

/**
 * vllm_bench's seed for this attempt: the run's seed on a first attempt, a different one on every retry (its
 * prompts must not be the ones the failed attempt left in the caches). Recorded in the report.
 */
export function attemptSeed(randomSeed: number, input: Pick<BenchmarkInput, 'retry'>, attempt: number): number {
  // Automatic attempts are few (see the retry policies): 1000 apart keeps retryStage's seeds from meeting them.
  return randomSeed + 1000 * (input.retry ?? 0) + (attempt - 1);
}
