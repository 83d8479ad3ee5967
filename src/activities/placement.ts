/**
 * Node placement: `claimNode` runs on the shared task queue and names the node whose worker picked it up; every
 * later stage of the run goes to that node's queue. `leaseResources` (on the node) leases two GPUs and a block
 * of ports for the run, waiting up to GPU_WAIT_SECONDS while other runs hold them; cleanup releases them.
 */
import { activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config/schema.js';
import { FailureType } from '../failures.js';
import { tryLease } from '../placement/leases.js';
import { nodeSettings } from '../placement/node.js';
import { portFree } from '../placement/port-free.js';
import { portRolesFor, type RunPlacement, type RunPorts } from '../placement/placement.js';
import { gpuMemoryUtilizationFor, rankGpus, type GpuStatus } from '../verification/gpu.js';
import { describeGpus, gpuRule, queryGpus, totalMemoryMib } from './gpu.js';
import { waitUntil } from './wait.js';

const POLL_INTERVAL_MS = 1000;

/** A sim node's virtual GPUs report what an idle H200 does (test/fixtures/nvidia-smi/h200x2-*). */
const SIM_GPU_FREE_MIB = 143156;

export async function claimNode(): Promise<{ node: string }> {
  const { name } = nodeSettings();
  heartbeat({ node: name });
  return { node: name };
}

function simGpus(count: number): GpuStatus[] {
  return Array.from({ length: count }, (_, index) => ({ index, freeMib: SIM_GPU_FREE_MIB, utilizationPercent: 0 }));
}

export interface LeaseInput {
  config: Config;
  workflowId: string;
  pinnedPorts: Partial<RunPorts>;
}

export async function leaseResources(input: LeaseInput): Promise<{ placement: RunPlacement }> {
  const { config, workflowId, pinnedPorts } = input;
  const node = nodeSettings();
  const sim = config.profile === 'sim';
  const rule = gpuRule(config, 2);
  return waitUntil({
    timeoutMs: config.gpuWaitSeconds * 1000,
    intervalMs: POLL_INTERVAL_MS,
    look: async () => {
      const gpus = sim ? simGpus(node.simGpus) : await queryGpus();
      const preference = rankGpus(gpus, rule);
      // The sim servers model vLLM's default memory share, so the large-GPU setting is for real GPUs only.
      const totals =
        sim || preference.length < 2
          ? undefined
          : new Map(await Promise.all(preference.map(async (gpu) => [gpu, await totalMemoryMib(gpu)] as const)));
      const attempt = await tryLease(node.leaseDir, {
        workflowId,
        node: node.name,
        gpuPreference: preference,
        gpuMemoryUtilizationOf: totals && ((gpu) => gpuMemoryUtilizationFor(totals.get(gpu)!, config.largeGpuGib)),
        pinnedPorts,
        portRoles: portRolesFor(config.lmcacheServerModule),
        portRange: node.portRange,
        portFree,
      });
      if ('placement' in attempt) return { done: true, value: { placement: attempt.placement } };
      return {
        done: false,
        waitingFor: `waiting for GPUs on ${node.name}: ${attempt.waitingFor} (${describeGpus(gpus)})`,
      };
    },
    onTimeout: (status) => {
      throw ApplicationFailure.create({
        type: FailureType.NoGpusAvailable,
        message: `no lease of 2 GPUs and ports on node ${node.name} after GPU_WAIT_SECONDS=${config.gpuWaitSeconds} (attempt ${activityInfo().attempt}): ${status}`,
      });
    },
  });
}
