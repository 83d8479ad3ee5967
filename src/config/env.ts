/**
 * Client-side loader: maps the reference suite's environment variable names onto the workflow input, so
 * CI users keep typing `MODEL=... NUM_PROMPTS=...` as they do today.
 */
import { type Config, type ConfigInput, InvalidConfigError, resolveConfig } from './schema.js';

type Kind = 'string' | 'integer' | 'number' | 'boolean' | 'list' | 'buildArg';

/** Environment variable name -> configuration field. Order is the README's. */
export const ENV_VARIABLES: ReadonlyArray<{ env: string; field: keyof Config; kind: Kind; help: string }> = [
  { env: 'PROFILE', field: 'profile', kind: 'string', help: 'gpu or sim' },
  { env: 'STAGES', field: 'stages', kind: 'list', help: 'comma-separated stages to run; cleanup always runs' },
  { env: 'EXTRA_TESTS', field: 'scripts', kind: 'list', help: 'test scripts in the LMCache checkout, run as stages' },
  { env: 'SCRIPT_TIMEOUT_MINUTES', field: 'scriptTimeoutMinutes', kind: 'number', help: 'how long one script may run' },
  { env: 'BUILD_ID', field: 'buildId', kind: 'string', help: 'unique identifier for this run' },
  { env: 'RESULTS_DIR', field: 'resultsDir', kind: 'string', help: 'directory for all outputs (on the worker)' },
  { env: 'VENV_DIR', field: 'venvDir', kind: 'string', help: 'Python virtual environment with the benchmark tools' },
  { env: 'MODEL', field: 'model', kind: 'string', help: 'model to serve and test' },
  { env: 'VLLM_PORT', field: 'vllmPort', kind: 'integer', help: 'port of vLLM with LMCache' },
  { env: 'VLLM_BASELINE_PORT', field: 'vllmBaselinePort', kind: 'integer', help: 'port of baseline vLLM' },
  { env: 'LMCACHE_PORT', field: 'lmcachePort', kind: 'integer', help: 'port of the LMCache server' },
  {
    env: 'LMCACHE_HTTP_PORT',
    field: 'lmcacheHttpPort',
    kind: 'integer',
    help: "port of the LMCache server's HTTP frontend (http_server)",
  },
  {
    env: 'MAX_WAIT_SECONDS',
    field: 'maxWaitSeconds',
    kind: 'integer',
    help: 'how long the servers may take to become healthy',
  },
  {
    env: 'HF_CACHE_DIR',
    field: 'hfCacheDir',
    kind: 'string',
    help: 'Hugging Face cache mounted into the vLLM containers',
  },
  { env: 'IMAGE', field: 'image', kind: 'string', help: 'image tag built and run' },
  { env: 'LMCACHE_REPO_DIR', field: 'lmcacheRepoDir', kind: 'string', help: 'build context: the LMCache repository' },
  {
    env: 'LMCACHE_REF',
    field: 'lmcacheRef',
    kind: 'string',
    help: 'commit, tag or branch of LMCACHE_REPO_DIR to build (default: the working copy as it is)',
  },
  {
    env: 'REBUILD',
    field: 'rebuild',
    kind: 'boolean',
    help: "build even when the node has the ref's commit's image already",
  },
  { env: 'DOCKERFILE', field: 'dockerfile', kind: 'string', help: 'Dockerfile path inside the build context' },
  { env: 'BUILD_TARGET', field: 'buildTarget', kind: 'string', help: 'Dockerfile target stage' },
  { env: 'CUDA_VERSION', field: 'buildArgs', kind: 'buildArg', help: 'build argument' },
  { env: 'UBUNTU_VERSION', field: 'buildArgs', kind: 'buildArg', help: 'build argument' },
  { env: 'VLLM_VERSION', field: 'buildArgs', kind: 'buildArg', help: 'build argument' },
  { env: 'CPU_BUFFER_SIZE', field: 'cpuBufferSize', kind: 'number', help: 'LMCache L1 size in GB' },
  { env: 'MAX_WORKERS', field: 'maxWorkers', kind: 'integer', help: 'LMCache server workers' },
  {
    env: 'LMCACHE_SERVER_MODULE',
    field: 'lmcacheServerModule',
    kind: 'string',
    help: 'LMCache MP server module: server, or http_server (HTTP health, clear and metrics)',
  },
  {
    env: 'KV_EXTRA_KEYS',
    field: 'kvExtraKeys',
    kind: 'boolean',
    help: 'kv_load_failure_policy and lmcache.mp.mq_timeout in --kv-transfer-config',
  },
  {
    env: 'NO_ASYNC_SCHEDULING',
    field: 'noAsyncScheduling',
    kind: 'boolean',
    help: 'pass --no-async-scheduling to vLLM',
  },
  {
    env: 'LARGE_GPU_GIB',
    field: 'largeGpuGib',
    kind: 'integer',
    help: '--gpu-memory-utilization 0.5 above this many GiB (MiB / 1024, integer)',
  },
  {
    env: 'GPU_MIN_FREE_MEMORY_MIB',
    field: 'gpuMinFreeMemoryMib',
    kind: 'integer',
    help: 'a usable GPU has at least this much free memory',
  },
  {
    env: 'GPU_MAX_UTILIZATION_PERCENT',
    field: 'gpuMaxUtilizationPercent',
    kind: 'number',
    help: 'a usable GPU is at most this busy',
  },
  { env: 'GPU_WAIT_SECONDS', field: 'gpuWaitSeconds', kind: 'integer', help: 'how long to wait for two usable GPUs' },
  { env: 'NUM_CONCURRENT', field: 'numConcurrent', kind: 'integer', help: 'lm_eval concurrent requests' },
  { env: 'LIMIT', field: 'limit', kind: 'integer', help: 'lm_eval samples' },
  { env: 'LM_EVAL_TASK', field: 'lmEvalTask', kind: 'string', help: 'lm_eval task' },
  { env: 'BENCHMARK_DRIVER', field: 'benchmarkDriver', kind: 'string', help: 'upstream tools or the builtin drivers' },
  {
    env: 'TOKENIZER',
    field: 'tokenizer',
    kind: 'string',
    help: "tokenizer for vllm bench serve (default: the model's)",
  },
  { env: 'NUM_PROMPTS', field: 'numPrompts', kind: 'integer', help: 'vllm bench prompts' },
  { env: 'RANDOM_INPUT_LEN', field: 'randomInputLen', kind: 'integer', help: 'vllm bench input tokens' },
  { env: 'RANDOM_OUTPUT_LEN', field: 'randomOutputLen', kind: 'integer', help: 'vllm bench output tokens' },
  { env: 'RANDOM_SEED', field: 'randomSeed', kind: 'integer', help: 'vllm bench seed' },
  {
    env: 'MAX_THROUGHPUT_SLOWDOWN_PERCENT',
    field: 'maxThroughputSlowdownPercent',
    kind: 'number',
    help: 'allowed LMCache throughput loss',
  },
  {
    env: 'TOKEN_COUNT_TOLERANCE_PERCENT',
    field: 'tokenCountTolerancePercent',
    kind: 'number',
    help: 'allowed difference of vllm bench input tokens from the expected count',
  },
  { env: 'DOCUMENT_LENGTH', field: 'documentLength', kind: 'integer', help: 'long doc QA document tokens' },
  { env: 'NUM_DOCUMENTS', field: 'numDocuments', kind: 'integer', help: 'long doc QA documents' },
  { env: 'OUTPUT_LEN', field: 'outputLen', kind: 'integer', help: 'long doc QA output tokens' },
  { env: 'REPEAT_COUNT', field: 'repeatCount', kind: 'integer', help: 'long doc QA repeats' },
  { env: 'REPEAT_MODE', field: 'repeatMode', kind: 'string', help: 'long doc QA repeat mode' },
  { env: 'SHUFFLE_SEED', field: 'shuffleSeed', kind: 'integer', help: 'long doc QA shuffle seed' },
  { env: 'MAX_INFLIGHT_REQUESTS', field: 'maxInflightRequests', kind: 'integer', help: 'long doc QA concurrency' },
  { env: 'MAX_LMCACHE_TTFT', field: 'maxLmcacheTtft', kind: 'number', help: 'max LMCache query TTFT (s)' },
  {
    env: 'MAX_LMCACHE_QUERY_ROUND_TIME',
    field: 'maxLmcacheQueryRoundTime',
    kind: 'number',
    help: 'max LMCache query round time (s)',
  },
  {
    env: 'REQUIRE_LMCACHE_EVIDENCE',
    field: 'requireLmcacheEvidence',
    kind: 'boolean',
    help: "LMCache's counters must show it served (0: the evidence checks only report)",
  },
  {
    env: 'LMCACHE_MIN_SERVED_PERCENT',
    field: 'lmcacheMinServedPercent',
    kind: 'number',
    help: 'share of the reusable tokens LMCache must deliver',
  },
  {
    env: 'SIM_DEFECT',
    field: 'simDefect',
    kind: 'string',
    help: "sim only: a defect to switch on (default: the image's own)",
  },
  { env: 'SIM_STARTUP_SECONDS', field: 'simStartupSeconds', kind: 'number', help: 'sim only: model load time' },
  {
    env: 'SIM_GPU_CACHE_TOKENS',
    field: 'simGpuCacheTokens',
    kind: 'integer',
    help: 'sim only: GPU prefix cache size in tokens (0: from --gpu-memory-utilization)',
  },
  {
    env: 'SIM_NOISE_PERCENT',
    field: 'simNoisePercent',
    kind: 'number',
    help: "sim only: spread of each batch's GPU time, seeded by the run's seed",
  },
  {
    env: 'SIM_NOISE_SECONDS',
    field: 'simNoiseSeconds',
    kind: 'number',
    help: 'sim only: how long the noise lasts (its correlation time in wall-clock seconds, 0.01 to 3600)',
  },
  {
    env: 'GREY_ZONE_PERCENT',
    field: 'greyZonePercent',
    kind: 'number',
    help: 'a figure this close to its limit (ratio points, % of a latency limit) is measured again',
  },
  {
    env: 'MAX_REPEATS',
    field: 'maxRepeats',
    kind: 'integer',
    help: 'more samples a grey-zone figure may take (0: one)',
  },
  {
    env: 'REGRESSION_MARGIN_PERCENT',
    field: 'regressionMarginPercent',
    kind: 'number',
    help: 'worse than the median by more: a regression',
  },
  { env: 'HISTORY_RUNS', field: 'historyRuns', kind: 'integer', help: 'passing runs the report compares against' },
  { env: 'ON_FAILURE', field: 'onFailure', kind: 'string', help: 'cleanup, or hold the servers for retryStage' },
  { env: 'HOLD_MINUTES', field: 'holdMinutes', kind: 'number', help: 'how long a held run waits for a decision' },
];

const BOOLEAN_TEXT: Record<string, boolean> = { '1': true, true: true, '0': false, false: false };

function parseValue(env: string, kind: Kind, raw: string): unknown {
  const text = raw.trim();
  if (kind === 'integer' || kind === 'number') {
    const value = Number(text);
    const ok = text !== '' && Number.isFinite(value) && (kind === 'number' || Number.isInteger(value));
    if (!ok)
      throw new InvalidConfigError([
        `${env}: expected ${kind === 'integer' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`,
      ]);
    return value;
  }
  if (kind === 'boolean') {
    const value = BOOLEAN_TEXT[text.toLowerCase()];
    if (value === undefined) {
      throw new InvalidConfigError([`${env}: expected 1, 0, true or false, got ${JSON.stringify(raw)}`]);
    }
    return value;
  }
  if (kind === 'list')
    return text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  return raw;
}

/**
 * Reads the known variables from `env` into a workflow input. Only variables that are set appear, so the
 * workflow's profile defaults fill the rest. `now` supplies the reference's timestamp defaults.
 */
export function inputFromEnv(env: NodeJS.ProcessEnv, now: Date = new Date()): ConfigInput {
  const input: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const { env: name, field, kind } of ENV_VARIABLES) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    try {
      const value = parseValue(name, kind, raw);
      if (kind === 'buildArg') {
        input.buildArgs = { ...(input.buildArgs as Record<string, string> | undefined), [name]: value };
      } else {
        input[field] = value;
      }
    } catch (error) {
      problems.push(...(error as InvalidConfigError).problems);
    }
  }
  if (problems.length > 0) throw new InvalidConfigError(problems);
  // The reference defaults BUILD_ID and RANDOM_SEED to a timestamp at start.
  const stamp = Math.floor(now.getTime() / 1000);
  input.buildId ??= `local_${stamp}`;
  input.randomSeed ??= stamp;
  return input as ConfigInput;
}

/** Loads and validates; the returned input is what the client sends, the config what the workflow will use. */
export function loadConfigFromEnv(
  env: NodeJS.ProcessEnv,
  workflowId: string,
  now?: Date,
): { input: ConfigInput; config: Config } {
  const input = inputFromEnv(env, now);
  return { input, config: resolveConfig(input, { workflowId }) };
}
