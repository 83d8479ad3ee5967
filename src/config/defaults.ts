/**
 * Each profile's defaults: the reference bash suite's for gpu, and the same workloads scaled to the sim.
 * Pure and deterministic: imported by the workflow bundle through the schema.
 */
import { STAGES, type Profile } from './choices.js';
import type { Config } from './schema.js';

/**
 * The reference suite's defaults (gpu profile). Where upstream's versions differ, the newest one's
 * (test/fixtures/upstream/README.md): the `http_server` module, the extra kv keys, async scheduling left on,
 * the 90 GiB cut-off.
 */
export const GPU_DEFAULTS: Omit<Config, 'buildId' | 'resultsDir' | 'randomSeed'> = {
  profile: 'gpu',
  stages: [...STAGES],
  scripts: [],
  scriptTimeoutMinutes: 60,
  venvDir: '.venv',
  model: 'Qwen/Qwen3-14B',
  vllmPort: 8000,
  vllmBaselinePort: 9000,
  lmcachePort: 6555,
  lmcacheHttpPort: 6556,
  maxWaitSeconds: 300,
  hfCacheDir: '~/.cache/huggingface',
  image: 'lmcache/vllm-openai:test',
  // No default: this project is not an LMCache checkout, and a guess would fail only at the build.
  lmcacheRepoDir: '',
  lmcacheRef: '',
  rebuild: false,
  dockerfile: 'docker/Dockerfile',
  buildTarget: 'image-build',
  buildArgs: { CUDA_VERSION: '12.8', UBUNTU_VERSION: '24.04', VLLM_VERSION: 'nightly' },
  cpuBufferSize: 80,
  maxWorkers: 4,
  lmcacheServerModule: 'http_server',
  kvExtraKeys: true,
  noAsyncScheduling: false,
  largeGpuGib: 90,
  gpuMinFreeMemoryMib: 70000,
  gpuMaxUtilizationPercent: 20,
  gpuWaitSeconds: 3600,
  numConcurrent: 50,
  limit: 300,
  lmEvalTask: 'gsm8k',
  benchmarkDriver: 'upstream',
  tokenizer: '',
  numPrompts: 50,
  randomInputLen: 10000,
  randomOutputLen: 1,
  maxThroughputSlowdownPercent: 5,
  // The later upstream run-vllm-bench.sh allows ±1 % on the token count.
  tokenCountTolerancePercent: 1,
  documentLength: 10000,
  numDocuments: 30,
  outputLen: 200,
  repeatCount: 2,
  repeatMode: 'tile',
  shuffleSeed: 0,
  maxInflightRequests: 5,
  maxLmcacheTtft: 0.22,
  maxLmcacheQueryRoundTime: 0.58,
  requireLmcacheEvidence: true,
  lmcacheMinServedPercent: 50,
  // '': not set, so the sim image's own default applies (the `sim-defect` file of the commit it was built
  // from); 'none' switches that default off.
  simDefect: '',
  simStartupSeconds: 0,
  simGpuCacheTokens: 0,
  simNoisePercent: 0,
  simNoiseSeconds: 1,
  greyZonePercent: 3,
  maxRepeats: 4,
  regressionMarginPercent: 10,
  historyRuns: 10,
  onFailure: 'cleanup',
  holdMinutes: 60,
};

/**
 * The sim profile's defaults: the reference workloads scaled to fit the simulated server's cost model
 * (see src/sim/README.md) on a 2-core machine, and thresholds that hold there with LMCache and fail without it.
 */
export const SIM_DEFAULTS: typeof GPU_DEFAULTS = {
  ...GPU_DEFAULTS,
  profile: 'sim',
  model: 'sim/greedy-echo',
  image: 'lmcache-mp-sim:test',
  // The build context is this project: its .dockerignore lets only the compiled sim servers in.
  lmcacheRepoDir: '.',
  dockerfile: 'sim/image/Dockerfile',
  buildTarget: 'sim',
  buildArgs: {},
  cpuBufferSize: 1,
  maxWaitSeconds: 60,
  numConcurrent: 8,
  limit: 40,
  lmEvalTask: 'gsm8k_sim',
  benchmarkDriver: 'builtin',
  numPrompts: 20,
  randomInputLen: 2000,
  documentLength: 2000,
  numDocuments: 12,
  outputLen: 16,
  maxInflightRequests: 4,
  maxLmcacheTtft: 0.2,
  maxLmcacheQueryRoundTime: 0.3,
  simStartupSeconds: 2,
};

export const PROFILE_DEFAULTS: Record<Profile, typeof GPU_DEFAULTS> = { gpu: GPU_DEFAULTS, sim: SIM_DEFAULTS };
