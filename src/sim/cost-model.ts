/**
 * Every number of the simulation in one place. src/sim/README.md explains each one and the benchmark
 * figures that follow from them; change both together.
 */

/** Prefix caching works on blocks of this many tokens (vLLM's default block size). Only full blocks are cached. */
export const BLOCK_TOKENS = 16;

/** Seconds of "GPU" time to prefill one token that no cache holds. 2000 tokens take 0.4 s. */
export const PREFILL_SECONDS_PER_TOKEN = 200e-6;

/** Seconds to load one token's KV from the LMCache server: 40x cheaper than prefilling it. */
export const LMCACHE_LOAD_SECONDS_PER_TOKEN = 5e-6;

/** Seconds per output token after the first (the first comes out of prefill). Decodes overlap each other. */
export const DECODE_SECONDS_PER_TOKEN = 0.02;

/**
 * The GPU prefix cache holds this many tokens at --gpu-memory-utilization 1.0 and scales linearly with it:
 * 18000 tokens at vLLM's default 0.9, i.e. nine 2000-token documents.
 */
export const GPU_CACHE_TOKENS_AT_FULL_UTILIZATION = 20_000;
export const DEFAULT_GPU_MEMORY_UTILIZATION = 0.9;

/** `slow-load`: loading from LMCache costs twice what prefilling the token would. */
export const SLOW_LOAD_SECONDS_PER_TOKEN = 2 * PREFILL_SECONDS_PER_TOKEN;

/** `slow-store`: a synchronous store costs as much GPU time per token as prefill, halving throughput. */
export const SLOW_STORE_SECONDS_PER_TOKEN = PREFILL_SECONDS_PER_TOKEN;

/**
 * `slow-store:<percent>`: a request that stores holds the GPU for its prefill's time × p / (100 − p) more, so a
 * workload of new prompts runs at (100 − p) % of its throughput whatever part of each prompt fills whole chunks.
 */
export function slowStoreShareOfPrefill(percent: number): number {
  return percent / (100 - percent);
}

/** The longest prompt plus output the model accepts, as Qwen3-14B's context. */
export const MAX_MODEL_LEN = 40_960;

/** How long the sim vLLM server's connector waits for any reply of the LMCache server before failing the call. */
export const LMCACHE_TIMEOUT_SECONDS = 5;

export function gpuCacheTokens(gpuMemoryUtilization: number): number {
  return Math.floor(gpuMemoryUtilization * GPU_CACHE_TOKENS_AT_FULL_UTILIZATION);
}

/** The constants as one object, for /sim/stats and the startup log. */
export function costModelSummary(): Record<string, number> {
  return {
    blockTokens: BLOCK_TOKENS,
    prefillSecondsPerToken: PREFILL_SECONDS_PER_TOKEN,
    lmcacheLoadSecondsPerToken: LMCACHE_LOAD_SECONDS_PER_TOKEN,
    decodeSecondsPerToken: DECODE_SECONDS_PER_TOKEN,
    slowLoadSecondsPerToken: SLOW_LOAD_SECONDS_PER_TOKEN,
    slowStoreSecondsPerToken: SLOW_STORE_SECONDS_PER_TOKEN,
    gpuCacheTokensAtFullUtilization: GPU_CACHE_TOKENS_AT_FULL_UTILIZATION,
    maxModelLen: MAX_MODEL_LEN,
  };
}
