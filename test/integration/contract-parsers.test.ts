/**
 * Contract tests: every command line the gpu profile runs, built by our builders, handed to the real tool's own
 * parser (vLLM 0.33 and lm-eval from the project's .venv; lmcache 0.5.6 inside the sim's LMCache server image),
 * which must accept it and read the values we meant. test/contract/real_parsers.py does the parsing; this file
 * builds the argv and says what each value must come out as. A builder knob that changes a command line is one
 * more entry in VARIANTS.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { before, describe, it } from 'node:test';
import { execa } from 'execa';
import { ensureLmcacheServerImage } from '../../src/activities/lmcache-server-image.js';
import { containerSpecs, LMCACHE_PYTHON, type ContainerSpec, type LaunchPlan } from '../../src/commands/containers.js';
import { benchServeCommand, lmEvalCommand, type ToolPaths } from '../../src/commands/tools.js';
import { resolveConfig, type Config } from '../../src/config/schema.js';
import { docker } from '../../src/docker/client.js';
import { PROJECT_ROOT } from '../../src/node-paths.js';
import { gpuMemoryUtilizationFor } from '../../src/verification/gpu.js';

const CONTRACT_DIR = path.join(PROJECT_ROOT, 'test/contract');
const PROGRAM = 'real_parsers.py';
/** memory.total of GPU 0 in the captures of test/fixtures/nvidia-smi/ (h200x2-…, synthetic-h100-…). */
const H200_TOTAL_MIB = 143771;
const H100_80GB_TOTAL_MIB = 81559;

interface Variant {
  name: string;
  /** Run input on top of the gpu defaults. */
  input: Record<string, unknown>;
  /** memory.total (MiB) of the LMCache GPU, which decides --gpu-memory-utilization. */
  gpuTotalMib: number;
}

const VARIANTS: Variant[] = [
  { name: 'gpu defaults on an H100 80GB', input: {}, gpuTotalMib: H100_80GB_TOTAL_MIB },
  { name: 'gpu defaults on an H200 (--gpu-memory-utilization 0.5)', input: {}, gpuTotalMib: H200_TOTAL_MIB },
  { name: 'TOKENIZER given (--tokenizer)', input: { tokenizer: '/models/Qwen3-14B' }, gpuTotalMib: H200_TOTAL_MIB },
  { name: 'MODEL a directory on the node', input: { model: '/models/Qwen3-14B' }, gpuTotalMib: H100_80GB_TOTAL_MIB },
  {
    name: "the oldest upstream's choices (server module, no extra kv keys, --no-async-scheduling)",
    input: { lmcacheServerModule: 'server', kvExtraKeys: false, noAsyncScheduling: true },
    gpuTotalMib: H100_80GB_TOTAL_MIB,
  },
];

/** Where a GPU node keeps the tools; only the paths inside argv reach the parsers. */
const PATHS: ToolPaths = {
  venvBin: '/srv/lmcache-mp/.venv/bin',
  projectRoot: '/srv/lmcache-mp',
  nodeBin: '/usr/bin/node',
  lmcacheRepoDir: '/srv/LMCache',
};

type Tool = 'vllm' | 'lm_eval' | 'python';
interface Request {
  argv: string[];
  env?: Record<string, string>;
}
type Parsed = { accepted: true; values: any } | { accepted: false; error: string };
type Output = Record<Tool, Parsed[]> & { seconds: Record<Tool, number> };

interface Built {
  config: Config;
  plan: LaunchPlan;
  specs: ContainerSpec[];
  bench: { run: string; port: number; resultDir: string; resultFilename: string; argv: string[] }[];
  lmEval: { outputPath: string; argv: string[] };
}

function build(variant: Variant): Built {
  const workflowId = `contract-${variant.name}`;
  const config = resolveConfig({ lmcacheRepoDir: PATHS.lmcacheRepoDir, ...variant.input }, { workflowId });
  const plan: LaunchPlan = {
    workflowId,
    hfCacheDir: '/root/.cache/huggingface',
    gpus: { withLmcache: 0, baseline: 1 },
    gpuMemoryUtilization: gpuMemoryUtilizationFor(variant.gpuTotalMib, config.largeGpuGib),
    // As the launch stage plans it: http_server serves its metrics on its HTTP port and gets no exporter port.
    ...(config.lmcacheServerModule === 'server' ? { prometheusPort: 20_001 } : {}),
  };
  const resultDir = path.join(config.resultsDir, 'vllm_bench');
  const bench = [
    { run: 'baseline', port: config.vllmBaselinePort },
    { run: 'lmcache', port: config.vllmPort },
  ].map(({ run, port }) => {
    const resultFilename = `${run}.json`;
    const tokenizer = config.tokenizer || undefined;
    const command = benchServeCommand(config, PATHS, { port, resultDir, resultFilename, tokenizer });
    assert.equal(command.file, `${PATHS.venvBin}/vllm`, 'the gpu profile runs the real vllm bench serve');
    return { run, port, resultDir, resultFilename, argv: command.args };
  });
  const outputPath = path.join(config.resultsDir, 'lm_eval', 'first_run');
  const lmEval = lmEvalCommand(config, PATHS, outputPath);
  assert.equal(lmEval.file, `${PATHS.venvBin}/lm_eval`);
  return { config, plan, specs: containerSpecs(config, plan), bench, lmEval: { outputPath, argv: lmEval.args } };
}

const spec = (built: Built, role: ContainerSpec['role']) => built.specs.find((s) => s.role === role)!;
/** The image's entrypoint is `vllm serve`: the container's cmd follows it. */
const servedArgv = (container: ContainerSpec) => {
  assert.equal(container.entrypoint, undefined, 'the LMCache image runs its default entrypoint, vllm serve');
  return ['serve', ...container.cmd];
};

/** The command lines of every tool, asked together: each tool's program is started (and imported) once. */
class Batch {
  readonly requests: Record<Tool, Request[]> = { vllm: [], lm_eval: [], python: [] };
  output?: Output;

  /** Queues a command line; the returned function gives the parser's answer once the batch has run. */
  ask(tool: Tool, request: Request): () => Parsed {
    const position = this.requests[tool].push(request) - 1;
    return () => this.output![tool][position]!;
  }
}

/** A flag no tool has, after the real ones: the proof that a refusal reaches the test as one. */
const UNKNOWN_FLAG = '--contract-test-unknown-flag';
const withUnknownFlag = (argv: string[]): Request => ({ argv: [...argv, UNKNOWN_FLAG] });

async function parseOnHost(requests: Pick<Record<Tool, Request[]>, 'vllm' | 'lm_eval'>): Promise<Output> {
  const result = await execa(`${PROJECT_ROOT}.venv/bin/python`, [path.join(CONTRACT_DIR, PROGRAM)], {
    input: JSON.stringify(requests),
    // vLLM's platform detection needs a device, and there is no GPU. Online as the vLLM containers run: offline,
    // vLLM's engine arguments would look the model up in the local hub cache; online they leave it alone.
    env: { VLLM_TARGET_DEVICE: 'cpu', HF_HUB_OFFLINE: '0' },
    reject: false,
  });
  assert.equal(result.exitCode, 0, `${PROGRAM} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout) as Output;
}

/** The LMCache server's flags through lmcache 0.5.6 in the sim's LMCache server image, without a network. */
async function parseInLmcacheImage(requests: Request[]): Promise<Output> {
  const image = await ensureLmcacheServerImage();
  const container = await docker().createContainer({
    name: `contract-parsers-${process.pid}`,
    Image: image,
    Entrypoint: [LMCACHE_PYTHON],
    Cmd: [`/contract/${PROGRAM}`],
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: { Binds: [`${CONTRACT_DIR}:/contract:ro`], NetworkMode: 'none' },
  });
  try {
    const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const [out, err] = [new PassThrough(), new PassThrough()];
    out.on('data', (chunk: Buffer) => stdout.push(chunk));
    err.on('data', (chunk: Buffer) => stderr.push(chunk));
    container.modem.demuxStream(stream, out, err);
    const ended = new Promise((resolve) => stream.on('end', resolve));
    await container.start();
    stream.end(JSON.stringify({ python: requests }));
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    await ended;
    const errors = Buffer.concat(stderr).toString('utf8');
    assert.equal(StatusCode, 0, `${PROGRAM} in ${image} failed:\n${errors}`);
    return JSON.parse(Buffer.concat(stdout).toString('utf8')) as Output;
  } finally {
    await container.remove({ force: true });
  }
}

/** The values of `parsed` under the keys of `meant`. */
const pick = (parsed: Record<string, unknown>, meant: object) =>
  Object.fromEntries(Object.keys(meant).map((key) => [key, parsed[key]]));

function flagValue(argv: string[], flag: string): string {
  const index = argv.indexOf(flag);
  assert.ok(index >= 0 && index + 1 < argv.length, `${flag} with a value in ${argv.join(' ')}`);
  return argv[index + 1]!;
}

function accepted(parsed: Parsed | undefined, what: string): any {
  assert.ok(parsed, `no answer for ${what}`);
  if (!parsed.accepted) assert.fail(`${what} was refused: ${parsed.error}`);
  return parsed.values;
}

describe("contract: our gpu command lines through the real tools' own parsers", { timeout: 900_000 }, () => {
  const batch = new Batch();
  const variants = VARIANTS.map((variant) => {
    const built = build(variant);
    const [lmcache, withLmcache, baseline] = [spec(built, 'lmcache'), spec(built, 'vllm'), spec(built, 'baseline')];
    return {
      variant,
      built,
      answers: {
        withLmcache: batch.ask('vllm', { argv: servedArgv(withLmcache), env: withLmcache.env }),
        baseline: batch.ask('vllm', { argv: servedArgv(baseline), env: baseline.env }),
        bench: built.bench.map((run) => batch.ask('vllm', { argv: run.argv })),
        lmEval: batch.ask('lm_eval', { argv: built.lmEval.argv }),
        lmcache: batch.ask('python', { argv: lmcache.cmd }),
      },
    };
  });
  const first = variants[0]!.built;
  const refused = {
    vllm: withUnknownFlag(servedArgv(spec(first, 'vllm'))),
    lm_eval: withUnknownFlag(first.lmEval.argv),
    python: withUnknownFlag(spec(first, 'lmcache').cmd),
  };
  const refusals = (['vllm', 'lm_eval', 'python'] as const).map((tool) => ({
    tool,
    answer: batch.ask(tool, refused[tool]),
  }));

  before(async () => {
    const started = Date.now();
    const [host, image] = await Promise.all([
      parseOnHost({ vllm: batch.requests.vllm, lm_eval: batch.requests.lm_eval }),
      parseInLmcacheImage(batch.requests.python),
    ]);
    batch.output = { ...host, python: image.python, seconds: { ...host.seconds, ...image.seconds } };
    const { seconds } = batch.output;
    const count = Object.values(batch.requests).reduce((sum, list) => sum + list.length, 0);
    console.log(
      `contract: ${count} command lines parsed in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
        `(import and parse: vllm ${seconds.vllm} s, lm_eval ${seconds.lm_eval} s, lmcache ${seconds.python} s, ` +
        'the image beside the host)',
    );
  });

  for (const { variant, built, answers } of variants) {
    const { config, plan } = built;
    const { name } = variant;

    it(`${name}: vllm serve accepts both vLLM containers' argv and reads what we meant`, () => {
      for (const [role, answer, port] of [
        ['vllm', answers.withLmcache, config.vllmPort],
        ['baseline', answers.baseline, config.vllmBaselinePort],
      ] as const) {
        const values = accepted(answer(), `the ${role} container's vllm serve`);
        assert.equal(values.args.model_tag, config.model, `${role}: the positional model`);
        assert.equal(values.engine.model, config.model, `${role}: the model the engine loads`);
        assert.equal(values.args.port, port, `${role}: port`);
        assert.equal(values.args.host, null, `${role}: listens on every address, as the health check expects`);
        assert.equal(values.attention_backend, 'FLASH_ATTN', `${role}: attention backend`);
        assert.equal(
          values.engine.async_scheduling,
          spec(built, role).cmd.includes('--no-async-scheduling') ? false : values.engine_defaults.async_scheduling,
          `${role}: async scheduling off with --no-async-scheduling, vLLM's choice without`,
        );
        assert.equal(
          values.engine.gpu_memory_utilization,
          plan.gpuMemoryUtilization ?? values.engine_defaults.gpu_memory_utilization,
          `${role}: the GPU memory share (vLLM's default unless the GPU is large)`,
        );
        assert.deepEqual(
          values.env,
          { VLLM_ENABLE_V1_MULTIPROCESSING: false, VLLM_BATCH_INVARIANT: true, VLLM_SERVER_DEV_MODE: true },
          `${role}: the environment as vLLM reads it`,
        );
        assert.deepEqual(values.env_unknown_to_vllm, ['PYTHONHASHSEED'], `${role}: only Python's own variable`);
      }
      const kv = accepted(answers.withLmcache(), 'vllm serve').engine.kv_transfer_config;
      assert.equal(kv.kv_connector, 'LMCacheMPConnector');
      assert.equal(kv.kv_role, 'kv_both');
      assert.equal(kv.kv_connector_extra_config['lmcache.mp.port'], config.lmcachePort, 'the LMCache server port');
      const given = JSON.parse(flagValue(spec(built, 'vllm').cmd, '--kv-transfer-config'));
      assert.deepEqual(pick(kv, given), given, 'every field we give comes out as given');
      assert.equal(
        accepted(answers.baseline(), 'vllm serve').engine.kv_transfer_config,
        null,
        'the baseline has no LMCache',
      );
    });

    it(`${name}: every kv_connector_extra_config key is one an LMCacheMPConnector reads`, () => {
      const { engine, kv_connector_module, kv_connector_reads } = accepted(answers.withLmcache(), 'vllm serve');
      assert.ok(kv_connector_module, 'a connector vLLM has registered');
      const lmcacheReads: string[] = accepted(answers.lmcache(), 'the LMCache server').vllm_connector_reads;
      for (const key of Object.keys(engine.kv_transfer_config.kv_connector_extra_config)) {
        assert.ok(
          [...kv_connector_reads, ...lmcacheReads].includes(key),
          `${key} is read by neither vLLM's builtin connector (${kv_connector_reads.join(', ')}) ` +
            `nor lmcache's own (${lmcacheReads.join(', ')})`,
        );
      }
    });

    it(`${name}: vllm bench serve accepts the baseline and LMCache runs' argv and reads what we meant`, () => {
      built.bench.forEach((run, runIndex) => {
        const { args } = accepted(answers.bench[runIndex]!(), `vllm bench serve ${run.run}`);
        const meant = {
          bench_type: 'serve',
          host: '127.0.0.1',
          port: run.port,
          endpoint: '/v1/chat/completions',
          backend: 'openai-chat',
          model: config.model,
          tokenizer: config.tokenizer || null,
          seed: config.randomSeed,
          dataset_name: 'random',
          random_input_len: config.randomInputLen,
          random_output_len: config.randomOutputLen,
          num_prompts: config.numPrompts,
          ignore_eos: true,
          save_result: true,
          result_dir: run.resultDir,
          result_filename: run.resultFilename,
        };
        assert.deepEqual(pick(args, meant), meant, `vllm bench serve ${run.run}`);
      });
    });

    it(`${name}: lm_eval accepts its argv and reads the model arguments we meant`, () => {
      const values = accepted(answers.lmEval(), 'lm_eval');
      assert.equal(values.model_class, 'LocalCompletionsAPI', '--model local-completions');
      // The model takes any key (**kwargs) and ignores one it does not know: first, that none is such.
      assert.deepEqual(values.model_args_unknown_to_model, [], 'every model argument is one the model takes');
      assert.deepEqual(values.model_args, {
        model: config.model,
        base_url: `http://127.0.0.1:${config.vllmPort}/v1/completions`,
        num_concurrent: config.numConcurrent,
        max_retries: 3,
        tokenized_requests: false,
      });
      assert.deepEqual(values.gen_kwargs, { temperature: 0 });
      assert.deepEqual(values.tasks, [config.lmEvalTask]);
      assert.deepEqual(values.tasks_unknown_to_lm_eval, [], 'a task lm-eval knows');
      assert.equal(values.limit, config.limit);
      assert.deepEqual(values.seed, [0, 0, 0, 0], 'one seed for every generator');
      assert.equal(values.log_samples, true, '-s: the samples the comparison reads');
      assert.equal(values.output_path, built.lmEval.outputPath);
    });

    it(`${name}: lmcache 0.5.6's server accepts the LMCache container's argv and reads what we meant`, () => {
      const values = accepted(answers.lmcache(), 'the LMCache server');
      const { cmd } = spec(built, 'lmcache');
      assert.equal(values.module, cmd[1], 'the module we run is the one parsed');
      const { mp, storage, observability } = values.configs;
      assert.equal(mp.port, config.lmcachePort, 'the port the kv-transfer-config names');
      assert.equal(mp.max_workers, config.maxWorkers);
      assert.equal(storage.l1_manager_config.memory_config.size_in_bytes, config.cpuBufferSize * 2 ** 30, 'GiB');
      assert.equal(storage.eviction_config.eviction_policy, 'LRU');
      if (cmd.includes('--prometheus-port')) {
        assert.equal(observability.prometheus_port, plan.prometheusPort, 'the leased Prometheus port');
      }
      if (cmd.includes('--http-port')) {
        assert.equal(values.configs.http.http_port, Number(flagValue(cmd, '--http-port')), "the HTTP frontend's port");
      }
    });
  }

  it('long_doc_qa.py: not checked here', { skip: "its argparse lives in LMCache's repository, not here" }, () => {});

  it('a flag the tool does not know fails the contract (one per tool)', () => {
    for (const { tool, answer } of refusals) {
      const parsed = answer();
      assert.equal(parsed.accepted, false, `${tool} accepted ${refused[tool].argv.join(' ')}`);
      assert.match(parsed.error, new RegExp(`unrecognized arguments: .*${UNKNOWN_FLAG}`), tool);
    }
  });
});
