/**
 * A retried benchmark measures what a first attempt measures: the servers stayed up, so their caches remember
 * the failed attempt. Before a retry, LMCache's store is emptied by its own clear (`POST /cache/clear` of the
 * `http_server` module's HTTP frontend; the MP protocol's `clear` with `server`), checked by its L1 usage gauge
 * falling to 0 (a store still in flight keeps its chunk, so it is asked again); if it will not empty, this run's
 * LMCache container is restarted, and on the gpu profile the vLLM beside it too: the sim's connector registers
 * again by itself, but nobody has seen a real vLLM's connector do so after its server restarted. Both vLLM
 * prefix caches are emptied by `POST /reset_prefix_cache` (served with VLLM_SERVER_DEV_MODE=1); then the servers
 * are waited for as in the health stage.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { activityInfo, log } from '@temporalio/activity';
import type { PlacedStageInput } from '../placement/placement.js';
import type { Role } from '../commands/containers.js';
import { docker } from '../docker/client.js';
import { containersOf } from '../docker/containers.js';
import { LmcacheMpClient } from '../lmcache-mp/client.js';
import { waitUntilHealthy } from './health.js';
import { readLmcacheCounters } from './lmcache-metrics.js';
import { httpPost, lmcacheEndpoints, type LmcacheEndpoints } from './probes.js';

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
  // The LMCache-side vLLM holds a connection to the server a restart replaces.
  const restarted: Role[] = config.profile === 'gpu' ? ['lmcache', 'vllm'] : ['lmcache'];
  const how = (await clearLmcache(lmcacheEndpoints(config, input.placement)))
    ? 'cleared'
    : await restartContainers(workflowId, restarted);
  await waitUntilHealthy(input);
  for (const port of [config.vllmBaselinePort, config.vllmPort]) {
    await httpPost(`http://127.0.0.1:${port}/reset_prefix_cache`);
  }
  log.info('caches emptied before a retried attempt', { lmcache: how, attempt: activityInfo().attempt });
}

/** True once LMCache's L1 holds nothing; false when its clear does not get it there (or cannot be asked). */
export async function clearLmcache(endpoints: LmcacheEndpoints): Promise<boolean> {
  const { port } = endpoints;
  const client =
    endpoints.module === 'server' ? new LmcacheMpClient(`tcp://127.0.0.1:${port}`, CLEAR_TIMEOUT_MS) : undefined;
  const clear = client
    ? () => client.clear()
    : () => httpPost(`http://127.0.0.1:${endpoints.httpPort}/cache/clear`, CLEAR_TIMEOUT_MS);
  try {
    for (let attempt = 0; attempt < CLEAR_ATTEMPTS; attempt++) {
      await clear();
      const counters = await readLmcacheCounters(endpoints.metricsPort);
      if ('usageRatio' in counters && counters.usageRatio === 0) return true;
      await sleep(CLEAR_POLL_MS);
    }
    log.warn('LMCache clear left its L1 in use; restarting it instead', { port });
  } catch (error) {
    log.warn('LMCache clear failed; restarting it instead', { port, error: (error as Error).message });
  } finally {
    client?.close();
  }
  return false;
}

/** Restarts this run's containers of `roles`, in that order. */
async function restartContainers(workflowId: string, roles: Role[]): Promise<string> {
  const containers = await containersOf(workflowId);
  const names: string[] = [];
  for (const role of roles) {
    const container = containers.find((c) => c.role === role);
    if (!container) throw new Error(`no ${role} container of workflow ${workflowId} to restart`);
    await docker().getContainer(container.id).restart({ t: RESTART_GRACE_SECONDS });
    names.push(container.name);
  }
  return `restarted ${names.join(', ')}`;
}

/**
 * vllm_bench's seed for this attempt: the run's seed on a first attempt, a different one on every retry (its
 * prompts must not be the ones the failed attempt left in the caches). Recorded in the report.
 */
export function attemptSeed(randomSeed: number, input: Pick<BenchmarkInput, 'retry'>, attempt: number): number {
  // Automatic attempts are few (see the retry policies): 1000 apart keeps retryStage's seeds from meeting them.
  return randomSeed + 1000 * (input.retry ?? 0) + (attempt - 1);
}
