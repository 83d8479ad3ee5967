import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENV_VARIABLES, inputFromEnv, loadConfigFromEnv } from '../../src/config/env.js';
import { InvalidConfigError, resolveConfig, SIM_DEFAULTS, STAGES } from '../../src/config/schema.js';

const identity = { workflowId: 'wf-1' };
/** A gpu run must name its LMCache checkout. */
const checkout = { lmcacheRepoDir: '/src/LMCache' };

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof InvalidConfigError, `expected InvalidConfigError, got ${error}`);
    return error.problems;
  }
  assert.fail('expected the input to be refused');
}

describe('configuration defaults', () => {
  it('equal the reference suite for the gpu profile', () => {
    const config = resolveConfig(checkout, identity);
    assert.equal(config.profile, 'gpu');
    assert.equal(config.model, 'Qwen/Qwen3-14B');
    assert.equal(config.vllmPort, 8000);
    assert.equal(config.vllmBaselinePort, 9000);
    assert.equal(config.lmcachePort, 6555);
    assert.equal(config.maxWaitSeconds, 300);
    assert.equal(config.cpuBufferSize, 80);
    assert.equal(config.maxWorkers, 4);
    assert.equal(config.numConcurrent, 50);
    assert.equal(config.limit, 300);
    assert.equal(config.numPrompts, 50);
    assert.equal(config.randomInputLen, 10000);
    assert.equal(config.randomOutputLen, 1);
    assert.equal(config.documentLength, 10000);
    assert.equal(config.numDocuments, 30);
    assert.equal(config.outputLen, 200);
    assert.equal(config.repeatCount, 2);
    assert.equal(config.repeatMode, 'tile');
    assert.equal(config.shuffleSeed, 0);
    assert.equal(config.maxInflightRequests, 5);
    assert.equal(config.maxLmcacheTtft, 0.22);
    assert.equal(config.maxLmcacheQueryRoundTime, 0.58);
    assert.equal(config.maxThroughputSlowdownPercent, 5);
    assert.equal(config.tokenCountTolerancePercent, 1);
    assert.equal(config.requireLmcacheEvidence, true);
    assert.equal(config.lmcacheMinServedPercent, 50);
    assert.equal(config.image, 'lmcache/vllm-openai:test');
    assert.equal(config.dockerfile, 'docker/Dockerfile');
    assert.equal(config.buildTarget, 'image-build');
    assert.deepEqual(config.buildArgs, { CUDA_VERSION: '12.8', UBUNTU_VERSION: '24.04', VLLM_VERSION: 'nightly' });
    assert.equal(config.venvDir, '.venv');
    assert.deepEqual(config.stages, [...STAGES]);
  });

  it("follow upstream's newest launch-containers.sh where its versions differ", () => {
    const config = resolveConfig(checkout, identity);
    assert.equal(config.lmcacheServerModule, 'http_server');
    assert.equal(config.lmcacheHttpPort, 6556);
    assert.equal(config.kvExtraKeys, true);
    assert.equal(config.noAsyncScheduling, false);
    assert.equal(config.largeGpuGib, 90);
    assert.equal(config.gpuWaitSeconds, 3600);
  });

  it('derive BUILD_ID, RESULTS_DIR and the seed from the workflow id, the same way every time', () => {
    const first = resolveConfig(checkout, { workflowId: 'ci/run 42' });
    const again = resolveConfig(checkout, { workflowId: 'ci/run 42' });
    assert.equal(first.buildId, 'ci_run_42');
    assert.equal(first.resultsDir, '/tmp/lmcache_ci_results_ci_run_42');
    assert.equal(first.randomSeed, again.randomSeed);
    assert.notEqual(first.randomSeed, resolveConfig(checkout, { workflowId: 'ci/run 43' }).randomSeed);
  });

  it('take the sim defaults for the sim profile, and any knob still overrides them', () => {
    const config = resolveConfig({ profile: 'sim', numPrompts: 7 }, identity);
    assert.equal(config.image, SIM_DEFAULTS.image);
    assert.equal(config.benchmarkDriver, 'builtin');
    assert.equal(config.numPrompts, 7);
  });

  it('keep the other build arguments when one is given', () => {
    const config = resolveConfig({ ...checkout, buildArgs: { VLLM_VERSION: 'v0.11.0' } }, identity);
    assert.deepEqual(config.buildArgs, { CUDA_VERSION: '12.8', UBUNTU_VERSION: '24.04', VLLM_VERSION: 'v0.11.0' });
  });
});

describe('bad input is refused with the field and what is allowed', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['port out of range', { vllmPort: 70000 }, /^vllmPort: .*65535/],
    [
      'port shared by two servers',
      { vllmBaselinePort: 8000 },
      /^vllmBaselinePort: port 8000 is already used by vllmPort/,
    ],
    ['LMCache port shared', { lmcachePort: 9000 }, /^lmcachePort: port 9000 is already used by vllmBaselinePort/],
    ['negative count', { numPrompts: -1 }, /^numPrompts: .*>=1/],
    ['zero limit', { limit: 0 }, /^limit: /],
    ['non-numeric threshold', { maxLmcacheTtft: 'fast' }, /^maxLmcacheTtft: .*number/],
    ['unknown stage', { stages: ['build', 'deploy'] }, /^stages\.1: .*build.*launch/],
    ['stage listed twice', { stages: ['build', 'build'] }, /^stages: lists a stage twice/],
    ['model with shell metacharacters', { model: 'Qwen/Qwen3; rm -rf /' }, /^model: must look like "org\/name"/],
    ['model with a path trick', { model: '../etc' }, /^model: /],
    ['model with dot-dot segment', { model: 'org/..' }, /^model: must not contain ".."/],
    ['model path with dot-dot segment', { model: '/models/../etc' }, /^model: must not contain ".."/],
    [
      'model path with a space',
      { model: '/models/Qwen3 14B' },
      /^model: must look like "org\/name", or be an absolute path/,
    ],
    ['relative model path', { model: 'models/Qwen/Qwen3-14B' }, /^model: /],
    [
      'gpu run without a checkout',
      { profile: 'gpu' },
      /^lmcacheRepoDir: LMCACHE_REPO_DIR is required with profile gpu/,
    ],
    ['image tag with metacharacters', { image: 'lmcache/vllm:$(id)' }, /^image: must be a Docker image reference/],
    [
      'Dockerfile outside the repository',
      { dockerfile: '../Dockerfile' },
      /^dockerfile: must be a path inside the repository/,
    ],
    ['unknown profile', { profile: 'tpu' }, /^profile: got "tpu"; allowed: gpu, sim/],
    ['unknown defect', { profile: 'sim', simDefect: 'explode' }, /^simDefect: must be one of none, corrupt-on-hit/],
    ['crash-after without a count', { profile: 'sim', simDefect: 'crash-after:' }, /^simDefect: /],
    ['unknown field', { modle: 'x' }, /^modle: unknown field/],
    ['relative results dir', { resultsDir: 'results' }, /^resultsDir: must be an absolute path/],
    ['unknown repeat mode', { repeatMode: 'zigzag' }, /^repeatMode: /],
    [
      'unknown LMCache server module',
      { lmcacheServerModule: 'api_server' },
      /^lmcacheServerModule: .*"server"\|"http_server" \(got "api_server"\)/,
    ],
    [
      'LMCache HTTP port shared with the LMCache port',
      { lmcacheHttpPort: 6555 },
      /^lmcacheHttpPort: port 6555 is already used by lmcachePort/,
    ],
    ['negative large-GPU cut-off', { largeGpuGib: -1 }, /^largeGpuGib: .*\(got -1\)/],
    ['switch given as text', { kvExtraKeys: 'yes' }, /^kvExtraKeys: .*boolean.*\(got "yes"\)/],
    [
      'slowdown that lets a throughput of 0 pass',
      { maxThroughputSlowdownPercent: 100 },
      /^maxThroughputSlowdownPercent: must be below 100/,
    ],
    [
      'token tolerance that lets a count of 0 pass',
      { tokenCountTolerancePercent: 100 },
      /^tokenCountTolerancePercent: must be below 100/,
    ],
    ['negative token tolerance', { tokenCountTolerancePercent: -1 }, /^tokenCountTolerancePercent: /],
    [
      'served share of 0, which any delivery meets',
      { lmcacheMinServedPercent: 0 },
      /^lmcacheMinServedPercent: must be above 0 \(got 0\)/,
    ],
    ['served share above 100', { lmcacheMinServedPercent: 150 }, /^lmcacheMinServedPercent: .*100.*\(got 150\)/],
    [
      'evidence switch that is not a boolean',
      { requireLmcacheEvidence: 'no' },
      /^requireLmcacheEvidence: .*boolean.*\(got "no"\)/,
    ],
    ['negative sim GPU cache', { profile: 'sim', simGpuCacheTokens: -1 }, /^simGpuCacheTokens: .*\(got -1\)/],
    [
      'ref with shell metacharacters',
      { ...checkout, lmcacheRef: 'main; rm -rf /' },
      /^lmcacheRef: must be a commit, tag or branch name.*\(got "main; rm -rf \/"\)/,
    ],
    ['ref read as an option', { ...checkout, lmcacheRef: '--output=/etc/x' }, /^lmcacheRef: must not start with "-"/],
    [
      'ref with no repository to resolve it in',
      { profile: 'sim', lmcacheRepoDir: '', lmcacheRef: 'main' },
      /^lmcacheRepoDir: LMCACHE_REPO_DIR is required with LMCACHE_REF/,
    ],
    ['rebuild switch given as text', { rebuild: 'yes' }, /^rebuild: .*boolean.*\(got "yes"\)/],
  ];
  for (const [what, input, expected] of cases) {
    it(what, () => {
      const problems = problemsOf(() => resolveConfig(input, identity));
      assert.ok(
        problems.some((problem) => expected.test(problem)),
        `problems were: ${problems.join(' | ')}`,
      );
    });
  }

  it('accepts a model given as an absolute path on the node', () => {
    assert.equal(resolveConfig({ ...checkout, model: '/models/Qwen3-14B' }, identity).model, '/models/Qwen3-14B');
  });

  it('needs no checkout in sim, whose image is built from this project', () => {
    assert.equal(resolveConfig({ profile: 'sim' }, identity).lmcacheRepoDir, '.');
  });

  it('builds the working copy and leaves SIM_DEFECT to the image unless told otherwise', () => {
    const config = resolveConfig({ profile: 'sim' }, identity);
    assert.deepEqual([config.lmcacheRef, config.rebuild, config.simDefect], ['', false, '']);
    const atRef = resolveConfig({ ...checkout, lmcacheRef: 'v0.3.1^{commit}', rebuild: true }, identity);
    assert.deepEqual([atRef.lmcacheRef, atRef.rebuild], ['v0.3.1^{commit}', true]);
  });

  it('accepts crash-after:N with a count', () => {
    assert.equal(resolveConfig({ profile: 'sim', simDefect: 'crash-after:5' }, identity).simDefect, 'crash-after:5');
  });

  it('names every bad field at once', () => {
    const problems = problemsOf(() => resolveConfig({ ...checkout, vllmPort: 0, limit: -3 }, identity));
    assert.equal(problems.length, 2);
  });

  it('refuses input that is not an object', () => {
    assert.match(problemsOf(() => resolveConfig('MODEL=x', identity))[0], /must be a JSON object/);
  });
});

describe('environment loader', () => {
  it('maps the reference variable names onto the input', () => {
    const input = inputFromEnv(
      {
        MODEL: 'org/model',
        VLLM_PORT: '8100',
        MAX_LMCACHE_TTFT: '0.3',
        TOKEN_COUNT_TOLERANCE_PERCENT: '0.5',
        STAGES: 'build, launch',
        VLLM_VERSION: 'v1',
      },
      new Date(0),
    );
    assert.equal(input.model, 'org/model');
    assert.equal(input.vllmPort, 8100);
    assert.equal(input.maxLmcacheTtft, 0.3);
    assert.equal(input.tokenCountTolerancePercent, 0.5);
    assert.deepEqual(input.stages, ['build', 'launch']);
    assert.deepEqual(input.buildArgs, { VLLM_VERSION: 'v1' });
  });

  it('defaults BUILD_ID and RANDOM_SEED to the start timestamp like the reference', () => {
    const input = inputFromEnv({}, new Date(1_700_000_000_000));
    assert.equal(input.buildId, 'local_1700000000');
    assert.equal(input.randomSeed, 1700000000);
    const { config } = loadConfigFromEnv({ LMCACHE_REPO_DIR: '/src/LMCache' }, 'wf', new Date(1_700_000_000_000));
    assert.equal(config.resultsDir, '/tmp/lmcache_ci_results_local_1700000000');
  });

  it('names the variable when a number does not parse', () => {
    const problems = problemsOf(() => inputFromEnv({ NUM_PROMPTS: 'fifty', MAX_LMCACHE_TTFT: '0.2s' }));
    assert.deepEqual(problems, [
      'NUM_PROMPTS: expected an integer, got "fifty"',
      'MAX_LMCACHE_TTFT: expected a number, got "0.2s"',
    ]);
  });

  it('reads the upstream-version knobs', () => {
    const input = inputFromEnv({
      LMCACHE_SERVER_MODULE: 'server',
      LMCACHE_HTTP_PORT: '7556',
      KV_EXTRA_KEYS: '0',
      NO_ASYNC_SCHEDULING: 'true',
      LARGE_GPU_GIB: '100',
    });
    assert.equal(input.lmcacheServerModule, 'server');
    assert.equal(input.lmcacheHttpPort, 7556);
    assert.equal(input.kvExtraKeys, false);
    assert.equal(input.noAsyncScheduling, true);
    assert.equal(input.largeGpuGib, 100);
  });

  it('reads LMCACHE_REF and REBUILD, naming REBUILD when it is no switch', () => {
    const input = inputFromEnv({ LMCACHE_REF: 'origin/dev', REBUILD: '1' });
    assert.deepEqual([input.lmcacheRef, input.rebuild], ['origin/dev', true]);
    assert.deepEqual(
      problemsOf(() => inputFromEnv({ REBUILD: 'maybe' })),
      ['REBUILD: expected 1, 0, true or false, got "maybe"'],
    );
  });

  it('names the variable when a switch is neither 1/0 nor true/false', () => {
    assert.deepEqual(
      problemsOf(() => inputFromEnv({ NO_ASYNC_SCHEDULING: 'yes' })),
      ['NO_ASYNC_SCHEDULING: expected 1, 0, true or false, got "yes"'],
    );
  });

  it('lets the server module keep port 6556 for something else when it has no HTTP frontend', () => {
    assert.equal(
      resolveConfig({ ...checkout, lmcacheServerModule: 'server', lmcachePort: 6556 }, identity).lmcachePort,
      6556,
    );
  });

  it('reads the evidence knobs: REQUIRE_LMCACHE_EVIDENCE as 1/0 or true/false, the share as a number', () => {
    assert.equal(inputFromEnv({ REQUIRE_LMCACHE_EVIDENCE: '0' }).requireLmcacheEvidence, false);
    assert.equal(inputFromEnv({ REQUIRE_LMCACHE_EVIDENCE: 'True' }).requireLmcacheEvidence, true);
    assert.equal(inputFromEnv({ LMCACHE_MIN_SERVED_PERCENT: '75' }).lmcacheMinServedPercent, 75);
    assert.deepEqual(
      problemsOf(() => inputFromEnv({ REQUIRE_LMCACHE_EVIDENCE: 'maybe' })),
      ['REQUIRE_LMCACHE_EVIDENCE: expected 1, 0, true or false, got "maybe"'],
    );
    assert.match(
      problemsOf(() => loadConfigFromEnv({ PROFILE: 'sim', LMCACHE_MIN_SERVED_PERCENT: '0' }, 'wf'))[0],
      /^lmcacheMinServedPercent: must be above 0 \(got 0\)/,
    );
  });

  it('refuses a fractional count', () => {
    assert.match(problemsOf(() => inputFromEnv({ LIMIT: '2.5' }))[0], /^LIMIT: expected an integer/);
  });

  it('covers every configuration field that has no derived default', () => {
    const mapped = new Set(ENV_VARIABLES.map((variable) => variable.field));
    for (const field of Object.keys(resolveConfig(checkout, identity))) {
      assert.ok(mapped.has(field as never), `${field} has no environment variable`);
    }
  });
});
