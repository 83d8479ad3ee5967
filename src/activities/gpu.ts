/**
 * GPU selection (gpu profile): the reference rule applied to `nvidia-smi` output, waiting while fewer than
 * two GPUs qualify, and the large-GPU memory setting for vLLM.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { execa } from 'execa';
import { GPU_QUERY_ARGS, NVIDIA_SMI, gpuTotalMemoryArgs } from '../commands/tools.js';
import type { Config } from '../config/schema.js';
import { FailureType } from '../failures.js';
import {
  gpuMemoryUtilizationFor,
  parseGpuQuery,
  parseTotalMemoryMib,
  selectGpus as selectByRule,
  type GpuStatus,
} from '../verification/gpu.js';
import { waitUntil } from './wait.js';

const POLL_INTERVAL_MS = 10_000;

export interface GpuSelection {
  withLmcache: number;
  baseline: number;
  gpuMemoryUtilization?: number;
}

export function gpuRule(config: Config, count: number) {
  return { minFreeMib: config.gpuMinFreeMemoryMib, maxUtilizationPercent: config.gpuMaxUtilizationPercent, count };
}

/** The node's GPUs as `nvidia-smi` reports them now. */
export async function queryGpus(): Promise<GpuStatus[]> {
  return parseGpuQuery((await execa(NVIDIA_SMI, GPU_QUERY_ARGS)).stdout);
}

export async function totalMemoryMib(index: number): Promise<number> {
  return parseTotalMemoryMib((await execa(NVIDIA_SMI, gpuTotalMemoryArgs(index))).stdout);
}

export function describeGpus(gpus: GpuStatus[]): string {
  return gpus.map((gpu) => `GPU ${gpu.index}: ${gpu.freeMib} MiB free, ${gpu.utilizationPercent} % busy`).join('; ');
}

/** Runs recorded before GPU leases called this; new runs lease their GPUs (./placement.ts). */
export async function selectGpus(config: Config): Promise<GpuSelection> {
  const rule = gpuRule(config, 2);
  return waitUntil({
    timeoutMs: config.gpuWaitSeconds * 1000,
    intervalMs: POLL_INTERVAL_MS,
    look: async () => {
      const gpus = await queryGpus();
      const chosen = selectByRule(gpus, rule);
      if (!chosen) return { done: false, waitingFor: describeGpus(gpus) };
      const [withLmcache, baseline] = chosen;
      // Upstream reads the LMCache GPU's total only (`nvidia-smi … -i $GPU_FOR_VLLM`).
      const gpuMemoryUtilization = gpuMemoryUtilizationFor(await totalMemoryMib(withLmcache), config.largeGpuGib);
      return { done: true, value: { withLmcache, baseline, gpuMemoryUtilization } };
    },
    onTimeout: (status) => {
      throw ApplicationFailure.create({
        type: FailureType.NoGpusAvailable,
        message: `fewer than 2 GPUs with >= ${rule.minFreeMib} MiB free and <= ${rule.maxUtilizationPercent} % utilization after ${config.gpuWaitSeconds} s (${status || 'no GPUs listed'})`,
      });
    },
  });
}
