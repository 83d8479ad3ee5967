/**
 * The one configuration schema of a run: every knob of the reference bash suite, with its defaults and
 * the environment variable name CI users already type. The workflow validates its input with it, and the
 * client-side loader (./env.ts) validates the same way before anything starts.
 *
 * Pure and deterministic: it is imported by the workflow bundle.
 */
import { z } from 'zod';
import { DEFECT_CHOICES, parseDefect } from '../sim/defects.js';
import {
  BENCHMARK_DRIVERS,
  LMCACHE_SERVER_MODULES,
  ON_FAILURE_MODES,
  PROFILES,
  REPEAT_MODES,
  RESERVED_STAGE_NAMES,
  STAGES,
  type Profile,
} from './choices.js';
import { PROFILE_DEFAULTS } from './defaults.js';
import { isOutsideCheckout, SCRIPT_PATH_PATTERN, scriptStageName } from './scripts.js';
import { fnv1a32 } from '../util/hash.js';

export {
  BENCHMARK_DRIVERS,
  LMCACHE_SERVER_MODULES,
  ON_FAILURE_MODES,
  PROFILES,
  REPEAT_MODES,
  RESERVED_STAGE_NAMES,
  STAGES,
} from './choices.js';
export type { LmcacheServerModule, Profile, StageName } from './choices.js';
export { GPU_DEFAULTS, PROFILE_DEFAULTS, SIM_DEFAULTS } from './defaults.js';

/** SIM_DEFECT is checked by the sim servers' own parser, so the two can never disagree. */
function isKnownDefect(value: string): boolean {
  try {
    parseDefect(value);
    return true;
  } catch {
    return false;
  }
}

// A model is a Hugging Face repo id (`org/name`), a plain name, or an absolute path on the worker's node (GPU
// nodes often serve `/models/Qwen3-14B`): it reaches container argv, mounts and result paths, so shell
// metacharacters, whitespace and `..` are refused.
const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;
const MODEL_PATH_PATTERN = /^(\/[A-Za-z0-9._-]+)+\/?$/;
// Docker's reference grammar, restricted to what a local tag needs (registry host optional, tag optional).
const IMAGE_PATTERN =
  /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;
const SAFE_TOKEN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// Path-like knobs: absolute or relative, no control characters, no shell metacharacters.
const PATH_PATTERN = /^[A-Za-z0-9_./~+-][A-Za-z0-9_./~+@=-]*$/;

const noDotDot = (value: string) => !value.split('/').includes('..');

const port = z.number().int().min(1).max(65535);
const positiveInt = z.number().int().min(1);
const nonNegativeInt = z.number().int().min(0);
const positiveNumber = z.number().positive();

const modelName = z
  .string()
  .regex(MODEL_NAME_PATTERN, 'must look like "org/name" using letters, digits, ".", "_" or "-"')
  .refine(noDotDot, 'must not contain ".."');
const model = z
  .string()
  .refine(
    (value) => MODEL_NAME_PATTERN.test(value) || MODEL_PATH_PATTERN.test(value),
    'must look like "org/name", or be an absolute path ("/models/Qwen3-14B"), using letters, digits, ".", "_" or "-"',
  )
  .refine(noDotDot, 'must not contain ".."');

/** A model given as a directory on the worker's node rather than a hub name: mounted into the vLLM containers. */
export function isModelPath(model: string): boolean {
  return model.startsWith('/');
}

/** Whether a run's input names files on the worker's node (./input-files.ts checks them there). */
export function hasNodeInputs(config: Pick<Config, 'scripts' | 'profile' | 'model' | 'lmcacheRef'>): boolean {
  return config.scripts.length > 0 || config.profile === 'gpu' || isModelPath(config.model) || config.lmcacheRef !== '';
}
const imageTag = z
  .string()
  .regex(IMAGE_PATTERN, 'must be a Docker image reference such as "lmcache/vllm-openai:test"')
  .refine(noDotDot, 'must not contain ".."');
const safeToken = z.string().regex(SAFE_TOKEN_PATTERN, 'may hold only letters, digits, ".", "_" and "-"');
const pathValue = z.string().regex(PATH_PATTERN, 'must be a plain path without spaces or shell metacharacters');
const relativePath = pathValue.refine((p) => !p.startsWith('/') && noDotDot(p), 'must be a path inside the repository');
// A ref reaches git's argv (after --end-of-options) and the image tag's commit: no whitespace, no control
// characters, no leading "-", nothing git's ref grammar refuses outright.
const gitRef = z
  .string()
  .regex(/^[A-Za-z0-9_./~^@{}+-]+$/, 'must be a commit, tag or branch name: letters, digits and "_./~^@{}+-"')
  .refine((ref) => !ref.startsWith('-'), 'must not start with "-"');
const scriptPath = z
  .string()
  .regex(
    SCRIPT_PATH_PATTERN,
    'must be a plain path of letters, digits, "_", ".", "/", "+" and "-": no spaces or shell metacharacters',
  )
  .refine(noDotDot, 'must not contain ".."');

/** The fully resolved configuration every activity receives. */
export const configSchema = z
  .object({
    profile: z.enum(PROFILES),
    stages: z.array(z.enum(STAGES)).min(1),
    scripts: z.array(scriptPath),
    scriptTimeoutMinutes: positiveNumber,
    buildId: safeToken,
    resultsDir: pathValue.refine((p) => p.startsWith('/'), 'must be an absolute path'),
    venvDir: pathValue,

    model,
    vllmPort: port,
    vllmBaselinePort: port,
    lmcachePort: port,
    /** The HTTP frontend's port (`http_server` only): pinned by the caller, or leased with the other ports. */
    lmcacheHttpPort: port,
    maxWaitSeconds: positiveInt,
    hfCacheDir: pathValue,

    image: imageTag,
    /** '' only where no checkout is needed: a gpu run must name one (LMCACHE_REPO_DIR). */
    lmcacheRepoDir: z.union([z.literal(''), pathValue]),
    /** A commit, tag or branch of lmcacheRepoDir to build from; '' builds the working copy as it is. */
    lmcacheRef: z.union([z.literal(''), gitRef]),
    /** Build even when the node has an image of the ref's commit already. */
    rebuild: z.boolean(),
    dockerfile: relativePath,
    buildTarget: safeToken,
    buildArgs: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'build argument names are UPPER_SNAKE_CASE'), safeToken),

    cpuBufferSize: positiveNumber,
    maxWorkers: positiveInt,
    lmcacheServerModule: z.enum(LMCACHE_SERVER_MODULES),
    /** `kv_load_failure_policy: recompute` and `lmcache.mp.mq_timeout: 10` in vLLM's --kv-transfer-config. */
    kvExtraKeys: z.boolean(),
    noAsyncScheduling: z.boolean(),
    /** `--gpu-memory-utilization 0.5` when the LMCache GPU's memory.total MiB / 1024 (integer) is above this. */
    largeGpuGib: nonNegativeInt,

    gpuMinFreeMemoryMib: nonNegativeInt,
    gpuMaxUtilizationPercent: z.number().min(0).max(100),
    gpuWaitSeconds: nonNegativeInt,

    numConcurrent: positiveInt,
    limit: positiveInt,
    lmEvalTask: safeToken,

    benchmarkDriver: z.enum(BENCHMARK_DRIVERS),
    /** '' means the model's own (gpu: the model name; sim: the sim model's tokenizer files). */
    tokenizer: z.union([z.literal(''), modelName, pathValue.refine(noDotDot, 'must not contain ".."')]),
    numPrompts: positiveInt,
    randomInputLen: positiveInt,
    randomOutputLen: positiveInt,
    randomSeed: nonNegativeInt,
    // At 100 % the limit is 0 tok/s, which any throughput meets: the check could not fail.
    maxThroughputSlowdownPercent: z.number().min(0).lt(100, 'must be below 100 (at 100 a throughput of 0 would pass)'),
    // At 100 % a count of 0 tokens would meet the expected count: the check could not fail.
    tokenCountTolerancePercent: z.number().min(0).lt(100, 'must be below 100 (at 100 a count of 0 tokens would pass)'),

    documentLength: positiveInt,
    numDocuments: positiveInt,
    outputLen: positiveInt,
    repeatCount: positiveInt,
    repeatMode: z.enum(REPEAT_MODES),
    shuffleSeed: nonNegativeInt,
    maxInflightRequests: positiveInt,
    maxLmcacheTtft: positiveNumber,
    maxLmcacheQueryRoundTime: positiveNumber,

    requireLmcacheEvidence: z.boolean(),
    // At 0 any delivery passes the share, so the check could only fail on none at all.
    lmcacheMinServedPercent: z.number().gt(0, 'must be above 0').max(100),

    simDefect: z.string().refine(isKnownDefect, `must be one of ${DEFECT_CHOICES}`),
    simStartupSeconds: z.number().min(0),
    /** 0: the size --gpu-memory-utilization gives (src/sim/cost-model.ts). */
    simGpuCacheTokens: nonNegativeInt,
    /** The spread of the sim's GPU time per batch (src/sim/noise.ts); 0: none. */
    simNoisePercent: z.number().min(0).max(50),
    /** How long the sim's interference lasts (its correlation time, src/sim/noise.ts). */
    simNoiseSeconds: z.number().min(0.01).max(3600),
    /** Points of the throughput ratio, and percent of a latency limit, within which a figure is measured again. */
    greyZonePercent: z.number().min(0).lt(100),
    /** Samples a figure in the grey zone may take after its first; 0: the single-sample rule. */
    maxRepeats: z.number().int().min(0).max(20),

    regressionMarginPercent: z.number().min(0),
    historyRuns: positiveInt,

    onFailure: z.enum(ON_FAILURE_MODES),
    holdMinutes: positiveNumber,
  })
  .strict()
  .superRefine((config, ctx) => {
    const ports: [string, number][] = [
      ['vllmPort', config.vllmPort],
      ['vllmBaselinePort', config.vllmBaselinePort],
      ['lmcachePort', config.lmcachePort],
      ...(config.lmcacheServerModule === 'http_server'
        ? [['lmcacheHttpPort', config.lmcacheHttpPort] as [string, number]]
        : []),
    ];
    for (let i = 0; i < ports.length; i++) {
      for (let j = i + 1; j < ports.length; j++) {
        if (ports[i][1] === ports[j][1]) {
          ctx.addIssue({
            code: 'custom',
            path: [ports[j][0]],
            message: `port ${ports[j][1]} is already used by ${ports[i][0]}; each server needs its own port`,
          });
        }
      }
    }
    if (config.lmcacheRef !== '' && config.lmcacheRepoDir === '') {
      ctx.addIssue({
        code: 'custom',
        path: ['lmcacheRepoDir'],
        message: 'LMCACHE_REPO_DIR is required with LMCACHE_REF: the git repository the ref is resolved in',
      });
    }
    if (config.profile === 'gpu' && config.lmcacheRepoDir === '') {
      ctx.addIssue({
        code: 'custom',
        path: ['lmcacheRepoDir'],
        message:
          'LMCACHE_REPO_DIR is required with profile gpu: the LMCache checkout that holds docker/Dockerfile and benchmarks/long_doc_qa/long_doc_qa.py',
      });
    }
    if (new Set(config.stages).size !== config.stages.length) {
      ctx.addIssue({ code: 'custom', path: ['stages'], message: 'lists a stage twice' });
    }
    const scriptNames = new Map<string, number>();
    config.scripts.forEach((script, i) => {
      const issue = (message: string) => ctx.addIssue({ code: 'custom', path: ['scripts', i], message });
      if (isOutsideCheckout(script, config.lmcacheRepoDir)) {
        issue(`is outside lmcacheRepoDir (${config.lmcacheRepoDir})`);
      }
      const name = scriptStageName(script);
      if (name === '') issue('leaves no stage name: name the file like "run-my-test.sh" (stage "my_test")');
      else if (RESERVED_STAGE_NAMES.includes(name)) {
        issue(`would be stage "${name}", which is a built-in stage name; rename the file`);
      } else if (scriptNames.has(name)) {
        issue(`would be stage "${name}", like scripts.${scriptNames.get(name)}; rename one of them`);
      } else scriptNames.set(name, i);
    });
  });

export type Config = z.infer<typeof configSchema>;

/** What a caller may send: any subset of the configuration; the rest comes from the profile's defaults. */
export type ConfigInput = Partial<Config>;

/**
 * What `retryStage` may override: a benchmark's workload knobs and thresholds. Never the image, the model,
 * the ports, the profile or the stages: the servers that stay up were launched with those.
 */
export const RETRY_OVERRIDE_FIELDS = [
  'numConcurrent',
  'limit',
  'numPrompts',
  'randomInputLen',
  'randomOutputLen',
  'randomSeed',
  'maxThroughputSlowdownPercent',
  'tokenCountTolerancePercent',
  'documentLength',
  'numDocuments',
  'outputLen',
  'repeatCount',
  'repeatMode',
  'shuffleSeed',
  'maxInflightRequests',
  'maxLmcacheTtft',
  'maxLmcacheQueryRoundTime',
  'lmcacheMinServedPercent',
  'scriptTimeoutMinutes',
] as const satisfies readonly (keyof Config)[];
/** Raised for input that fails validation; its message names every bad field and what is allowed. */
export class InvalidConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidConfigError';
  }
}

/** Values a run needs that have no fixed default; the workflow derives them from its own id. */
export interface RunIdentity {
  workflowId: string;
}

/** A stable, non-negative 31-bit seed derived from a string, so a retried run reuses the same seed. */
export function seedFrom(text: string): number {
  return fnv1a32(text) & 0x7fffffff;
}

/** Turns a build id into one that passes `safeToken`, for ids derived from workflow ids. */
function toBuildId(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return cleaned.length > 0 ? cleaned : 'run';
}

const FIELD_NAMES = new Set(Object.keys(configSchema.shape ?? {}));

/**
 * Resolves an input against its profile's defaults and validates it. Throws InvalidConfigError naming
 * every problem. Deterministic: safe inside the workflow.
 */
export function resolveConfig(input: unknown, identity: RunIdentity): Config {
  if (input === undefined || input === null) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidConfigError(['input: must be a JSON object of configuration fields']);
  }
  const given = Object.fromEntries(Object.entries(input as Record<string, unknown>).filter(([, v]) => v !== undefined));
  const unknownFields = Object.keys(given).filter((key) => !FIELD_NAMES.has(key));
  if (unknownFields.length > 0) {
    throw new InvalidConfigError(
      unknownFields.map((key) => `${key}: unknown field; known fields are ${[...FIELD_NAMES].join(', ')}`),
    );
  }
  const profile = given.profile ?? 'gpu';
  if (!PROFILES.includes(profile as Profile)) {
    throw new InvalidConfigError([`profile: got ${JSON.stringify(profile)}; allowed: ${PROFILES.join(', ')}`]);
  }
  const defaults = PROFILE_DEFAULTS[profile as Profile];
  const buildId = typeof given.buildId === 'string' ? given.buildId : toBuildId(identity.workflowId);
  const candidate = {
    ...defaults,
    buildId,
    resultsDir: `/tmp/lmcache_ci_results_${buildId}`,
    randomSeed: seedFrom(identity.workflowId),
    ...given,
    // A build argument given alone keeps the profile's other build arguments.
    buildArgs: { ...defaults.buildArgs, ...(given.buildArgs as Record<string, string> | undefined) },
  };
  const parsed = configSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new InvalidConfigError(
      parsed.error.issues.map((issue) => {
        const field = issue.path.join('.') || 'input';
        const got = issue.path.reduce<unknown>(
          (value, key) => (value as Record<PropertyKey, unknown>)?.[key],
          candidate,
        );
        return `${field}: ${issue.message} (got ${JSON.stringify(got)})`;
      }),
    );
  }
  return parsed.data;
}
