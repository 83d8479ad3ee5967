/**
 * The three containers of a run, exactly as the reference suite launches them, as pure data. The launch
 * activity turns a ContainerSpec into a dockerode create call; tests compare the specs to the reference.
 */
import { isModelPath, type Config, type LmcacheServerModule } from '../config/schema.js';
import { fnv1a32 } from '../util/hash.js';

export const LABEL_WORKFLOW_ID = 'org.lmcache.mp-test.workflow-id';
export const LABEL_ROLE = 'org.lmcache.mp-test.role';
/** Where the run keeps its results, so a janitor can save the log tails of a run that never cleaned up. */
export const LABEL_RESULTS_DIR = 'org.lmcache.mp-test.results-dir';

export const ROLES = ['lmcache', 'vllm', 'baseline'] as const;
export type Role = (typeof ROLES)[number];

/** Where the images keep their programs: the LMCache image's Python (the sim's LMCache server image mirrors it). */
export const LMCACHE_PYTHON = '/opt/venv/bin/python3';
const SIM_NODE = '/usr/bin/node';
const SIM_APP = '/app/src/sim';

export interface ContainerSpec {
  role: Role;
  name: string;
  image: string;
  /** Undefined keeps the image's default entrypoint (`vllm serve` in the LMCache image). */
  entrypoint?: string[];
  cmd: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  /** The port the server listens on, for health checks. */
  port: number;
  binds: string[];
  /** GPU indices the container may use; empty in the sim profile. */
  gpus: number[];
}

export interface LaunchPlan {
  workflowId: string;
  /** Absolute Hugging Face cache directory on the node. */
  hfCacheDir: string;
  /** GPU A hosts the LMCache server and vLLM with LMCache; GPU B the baseline. Absent in sim. */
  gpus?: { withLmcache: number; baseline: number };
  /** `--gpu-memory-utilization` for both vLLM servers when the GPU is large; undefined keeps vLLM's default. */
  gpuMemoryUtilization?: number;
  /**
   * The `server` module's Prometheus port. LMCache binds 0.0.0.0:9090 unless told otherwise, so a second run on
   * the node would die with "Address already in use": every run passes the one it leased. `http_server` starts
   * no exporter (it serves /metrics on its HTTP port), so it gets none.
   */
  prometheusPort?: number;
  /** sim: the image of the real LMCache server (src/activities/lmcache-server-image.ts); GPU: the run's image. */
  lmcacheImage?: string;
}

/**
 * A Docker-safe, collision-resistant suffix for a workflow id: readable part plus a short hash, because
 * sanitizing alone could map two ids to the same name.
 */
export function containerSuffix(workflowId: string): string {
  const readable = workflowId
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 40);
  return `${readable || 'run'}-${fnv1a32(workflowId).toString(16).padStart(8, '0')}`;
}

export function containerName(role: Role, workflowId: string): string {
  const prefix = { lmcache: 'lmcache-mp-test', vllm: 'vllm-mp-test', baseline: 'vllm-baseline-test' }[role];
  return `${prefix}-${containerSuffix(workflowId)}`;
}

/**
 * vLLM's connector settings. The extra keys (upstream's newest version) make a failed KV load recompute instead of
 * failing the request, and bound the connector's wait for an LMCache reply at 10 s.
 */
export function kvTransferConfig(lmcachePort: number, extraKeys: boolean): string {
  return JSON.stringify({
    kv_connector: 'LMCacheMPConnector',
    kv_role: 'kv_both',
    ...(extraKeys ? { kv_load_failure_policy: 'recompute' } : {}),
    kv_connector_extra_config: {
      'lmcache.mp.port': lmcachePort,
      ...(extraKeys ? { 'lmcache.mp.mq_timeout': 10 } : {}),
    },
  });
}

function vllmArgs(config: Config, port: number, plan: LaunchPlan, withLmcache: boolean): string[] {
  return [
    config.model,
    ...(withLmcache ? ['--kv-transfer-config', kvTransferConfig(config.lmcachePort, config.kvExtraKeys)] : []),
    '--attention-backend',
    'FLASH_ATTN',
    '--port',
    String(port),
    ...(config.noAsyncScheduling ? ['--no-async-scheduling'] : []),
    ...(plan.gpuMemoryUtilization !== undefined ? ['--gpu-memory-utilization', String(plan.gpuMemoryUtilization)] : []),
  ];
}

/**
 * `python -m lmcache.v1.multiprocess.<module>` and the reference's flags, with the run's own ports: the HTTP
 * frontend's for `http_server`, the Prometheus exporter's for `server`.
 */
export function lmcacheServerArgs(settings: {
  module: LmcacheServerModule;
  l1SizeGb: number;
  maxWorkers: number;
  port: number;
  httpPort?: number;
  prometheusPort?: number;
}): string[] {
  return [
    ...['-m', `lmcache.v1.multiprocess.${settings.module}`],
    ...['--l1-size-gb', String(settings.l1SizeGb), '--eviction-policy', 'LRU'],
    ...['--max-workers', String(settings.maxWorkers), '--port', String(settings.port)],
    ...(settings.module === 'http_server' ? ['--http-port', String(settings.httpPort)] : []),
    ...(settings.prometheusPort !== undefined ? ['--prometheus-port', String(settings.prometheusPort)] : []),
  ];
}

/** The noise of the sim's GPU time, seeded by the run's seed so the run's report says how to reproduce it. */
export function simNoiseEnv(config: Config): Record<string, string> {
  return {
    SIM_NOISE_PERCENT: String(config.simNoisePercent),
    SIM_NOISE_SECONDS: String(config.simNoiseSeconds),
    SIM_NOISE_SEED: String(config.randomSeed),
  };
}

export function containerSpecs(config: Config, plan: LaunchPlan): ContainerSpec[] {
  const sim = config.profile === 'sim';
  const labels = (role: Role) => ({
    [LABEL_WORKFLOW_ID]: plan.workflowId,
    [LABEL_ROLE]: role,
    [LABEL_RESULTS_DIR]: config.resultsDir,
  });
  const gpusOf = (index: number | undefined) => (sim || index === undefined ? [] : [index]);
  const vllmEnv: Record<string, string> = {
    VLLM_ENABLE_V1_MULTIPROCESSING: '0',
    VLLM_BATCH_INVARIANT: '1',
    PYTHONHASHSEED: '0',
    // Serves POST /reset_prefix_cache, which a retried benchmark uses to start from a cold cache.
    VLLM_SERVER_DEV_MODE: '1',
  };
  // The sim vLLM servers read their defect and load time from the environment, so their argv stays the reference's.
  const simEnv: Record<string, string> = sim
    ? {
        // Unset, the image's default applies: a commit's baked-in defect (sim/image/Dockerfile).
        ...(config.simDefect !== '' ? { SIM_DEFECT: config.simDefect } : {}),
        SIM_STARTUP_SECONDS: String(config.simStartupSeconds),
        ...(config.simGpuCacheTokens > 0 ? { SIM_GPU_CACHE_TOKENS: String(config.simGpuCacheTokens) } : {}),
        ...(config.simNoisePercent > 0 ? simNoiseEnv(config) : {}),
      }
    : {};
  const vllmEntrypoint = sim ? [SIM_NODE, `${SIM_APP}/vllm-server.js`] : undefined;
  const hfBind = `${plan.hfCacheDir}:/root/.cache/huggingface`;
  // A model given as a directory on the node is served from the same path inside, read-only.
  const vllmBinds = [hfBind, ...(isModelPath(config.model) ? [`${config.model}:${config.model}:ro`] : [])];

  return [
    {
      role: 'lmcache',
      name: containerName('lmcache', plan.workflowId),
      image: plan.lmcacheImage ?? config.image,
      entrypoint: [LMCACHE_PYTHON],
      cmd: lmcacheServerArgs({
        module: config.lmcacheServerModule,
        l1SizeGb: config.cpuBufferSize,
        maxWorkers: config.maxWorkers,
        port: config.lmcachePort,
        httpPort: config.lmcacheHttpPort,
        prometheusPort: plan.prometheusPort,
      }),
      env: {},
      labels: labels('lmcache'),
      port: config.lmcachePort,
      binds: [],
      gpus: gpusOf(plan.gpus?.withLmcache),
    },
    {
      role: 'vllm',
      name: containerName('vllm', plan.workflowId),
      image: config.image,
      entrypoint: vllmEntrypoint,
      cmd: vllmArgs(config, config.vllmPort, plan, true),
      env: { ...vllmEnv, ...simEnv },
      labels: labels('vllm'),
      port: config.vllmPort,
      binds: vllmBinds,
      gpus: gpusOf(plan.gpus?.withLmcache),
    },
    {
      role: 'baseline',
      name: containerName('baseline', plan.workflowId),
      image: config.image,
      entrypoint: vllmEntrypoint,
      cmd: vllmArgs(config, config.vllmBaselinePort, plan, false),
      env: { ...vllmEnv, ...simEnv },
      labels: labels('baseline'),
      port: config.vllmBaselinePort,
      binds: vllmBinds,
      gpus: gpusOf(plan.gpus?.baseline),
    },
  ];
}
