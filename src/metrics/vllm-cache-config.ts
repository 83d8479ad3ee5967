/**
 * vLLM's KV cache geometry as its Prometheus metrics give it: `vllm:cache_config_info`, a constant gauge whose labels
 * are the engine's CacheConfig. Pure: the reading over HTTP is in src/activities/lmcache-metrics.ts.
 */
import { parsePrometheusText } from './prometheus-text.js';

export const VLLM_CACHE_CONFIG_INFO = 'vllm:cache_config_info';

/** The GPU KV cache that vLLM's prefix cache lives in. */
export interface VllmKvCache {
  numGpuBlocks: number;
  blockSize: number;
}

/** The geometry, or why the exposition does not give it. */
export function vllmKvCache(exposition: string): VllmKvCache | { missing: string } {
  let samples;
  try {
    samples = parsePrometheusText(exposition);
  } catch (error) {
    return { missing: (error as Error).message };
  }
  const info = samples.find((sample) => sample.name === VLLM_CACHE_CONFIG_INFO);
  if (!info) return { missing: `no ${VLLM_CACHE_CONFIG_INFO} in its metrics` };
  const numGpuBlocks = Number(info.labels.num_gpu_blocks);
  const blockSize = Number(info.labels.block_size);
  // Before the engine has profiled its memory, vLLM exports num_gpu_blocks="None".
  if (!(Number.isInteger(numGpuBlocks) && numGpuBlocks > 0 && Number.isInteger(blockSize) && blockSize > 0)) {
    return {
      missing:
        `${VLLM_CACHE_CONFIG_INFO} has num_gpu_blocks=${JSON.stringify(info.labels.num_gpu_blocks)}, ` +
        `block_size=${JSON.stringify(info.labels.block_size)}`,
    };
  }
  return { numGpuBlocks, blockSize };
}
