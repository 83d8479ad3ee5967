/**
 * Every command line the gpu profile runs, built by our builders from the gpu defaults, against upstream's
 * recorded versions (test/fixtures/upstream/). Each difference is listed below with its reason; a difference
 * nobody listed fails, and so does a listed one that is gone.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { containerSpecs, type ContainerSpec, type LaunchPlan } from '../../src/commands/containers.js';
import {
  benchServeCommand,
  GPU_QUERY_ARGS,
  gpuTotalMemoryArgs,
  lmEvalCommand,
  longDocQaCommand,
  type Command,
  type ToolPaths,
} from '../../src/commands/tools.js';
import { resolveConfig, type Config, type ConfigInput } from '../../src/config/schema.js';
import { containerCreateOptions } from '../../src/docker/create-options.js';
import { gpuMemoryUtilizationFor } from '../../src/verification/gpu.js';

interface RecordedContainer {
  docker: string[];
  entrypoint?: string[];
  argv: string[];
  env?: Record<string, string>;
  binds?: string[];
}
interface LaunchVersion {
  source: { commit: string | null; indexId: string };
  lmcache: RecordedContainer;
  vllm: RecordedContainer;
  baseline: RecordedContainer;
  largeGpu: { query: string[]; cutoffGib: number; flag: string[] };
}

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../../test/fixtures/upstream/${name}`, import.meta.url), 'utf8')) as T;
}

const NEWEST = fixture<LaunchVersion>('launch-containers.v5-http-server.json');
const SERVER_VERSION = fixture<LaunchVersion>('launch-containers.v4-server.json');
const TOOLS = fixture<Record<string, { argv: string[] }>>('tools.json');

/** The GPUs pick-free-gpu.sh would have chosen, and the home directory `~` stands for. */
const GPUS = { withLmcache: 2, baseline: 5 };
const HOME = '/root';
/** An H200's memory.total (test/fixtures/nvidia-smi/h200x2-query-total-i0.csv): a large GPU by either cut-off. */
const H200_MIB = 143771;

/**
 * An argv as argparse reads it: positionals in order, options by name (the order of options does not matter to
 * argparse). A `--kv-transfer-config` value is JSON that vLLM parses, so it is compared parsed.
 */
function parsed(argv: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { positionals: [] as string[] };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-')) {
      (out.positionals as string[]).push(token);
      continue;
    }
    const next = argv[i + 1];
    const value = next !== undefined && !next.startsWith('-') ? (i++, next) : true;
    out[token] = token === '--kv-transfer-config' ? JSON.parse(value as string) : value;
  }
  return out;
}

/** `name: ours vs upstream` for every option, positional, variable or setting that differs. */
function differences(what: string, ours: Record<string, unknown>, upstream: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(ours), ...Object.keys(upstream)])];
  return keys
    .filter((key) => JSON.stringify(ours[key]) !== JSON.stringify(upstream[key]))
    .map((key) => `${what} ${key}: ${JSON.stringify(ours[key])} vs ${JSON.stringify(upstream[key])}`);
}

/** The dockerode create options as the `docker run` flags they stand for. */
function dockerRunFlags(spec: ContainerSpec): string[] {
  const host: { Runtime?: string; DeviceRequests?: { DeviceIDs: string[] }[]; NetworkMode: string; IpcMode: string } =
    containerCreateOptions(spec).HostConfig;
  return [
    ...(host.Runtime ? ['--runtime', host.Runtime] : []),
    ...(host.DeviceRequests ?? []).flatMap((request) => request.DeviceIDs.flatMap((id) => ['--gpus', `device=${id}`])),
    ...['--network', host.NetworkMode, '--ipc', host.IpcMode],
  ];
}

/** Upstream's placeholders and `~` as this test's run has them. */
function resolved(text: string): string {
  return text
    .replace('<GPU_FOR_VLLM>', String(GPUS.withLmcache))
    .replace('<GPU_FOR_BASELINE>', String(GPUS.baseline))
    .replace(/^~/, HOME);
}

function containerDifferences(config: Config, recorded: LaunchVersion): string[] {
  const plan: LaunchPlan = {
    workflowId: 'wf-upstream',
    hfCacheDir: `${HOME}/.cache/huggingface`,
    gpus: GPUS,
    gpuMemoryUtilization: gpuMemoryUtilizationFor(H200_MIB, config.largeGpuGib),
    // What launch passes: the exporter's port with `server` only (src/activities/launch.ts).
    ...(config.lmcacheServerModule === 'server' ? { prometheusPort: 9090 } : {}),
  };
  const specs = containerSpecs(config, plan);
  const large = Math.floor(H200_MIB / 1024) > recorded.largeGpu.cutoffGib ? recorded.largeGpu.flag : [];
  return specs.flatMap((spec) => {
    const upstream = recorded[spec.role];
    const upstreamArgv = [...upstream.argv, ...(spec.role === 'lmcache' ? [] : large)];
    return [
      ...differences(`${spec.role} docker`, { flags: dockerRunFlags(spec) }, { flags: upstream.docker.map(resolved) }),
      ...differences(`${spec.role} entrypoint`, { entrypoint: spec.entrypoint }, { entrypoint: upstream.entrypoint }),
      ...differences(`${spec.role} argv`, parsed(spec.cmd), parsed(upstreamArgv)),
      ...differences(`${spec.role} env`, spec.env, upstream.env ?? {}),
      ...differences(`${spec.role} binds`, { binds: spec.binds }, { binds: (upstream.binds ?? []).map(resolved) }),
    ];
  });
}

/**
 * What we run differently from upstream's newest version, and why. Pinned ports are compared: on a shared node
 * the ports are leased per run (README, "A fleet"), which changes their values, never the flags.
 */
/** Why each difference is there, and the words README's "Your first GPU run" says it with. */
interface Explained {
  why: string;
  readme: string;
}

const EXPLAINED_CONTAINER_DIFFERENCES: Record<string, Explained> = {
  'vllm env VLLM_SERVER_DEV_MODE: "1" vs undefined': {
    why: 'serves POST /reset_prefix_cache, which empties the GPU prefix cache before lm_eval second run and before a retried benchmark',
    readme: 'VLLM_SERVER_DEV_MODE=1',
  },
  'baseline env VLLM_SERVER_DEV_MODE: "1" vs undefined': {
    why: 'the same for the baseline, emptied before a retried benchmark',
    readme: 'VLLM_SERVER_DEV_MODE=1',
  },
};

/** Leased ports: LMCache's exporter binds 0.0.0.0:9090 unless told otherwise, so a second run on the node would die. */
const PROMETHEUS_PORT_DIFFERENCE: Record<string, Explained> = {
  'lmcache argv --prometheus-port: "9090" vs undefined': {
    why: 'a leased exporter port per run',
    readme: '`--prometheus-port`',
  },
};

const paths: ToolPaths = {
  venvBin: '/venv/bin',
  projectRoot: '/proj',
  nodeBin: '/usr/bin/node',
  lmcacheRepoDir: '/src/LMCache',
};

function toolDifferences(name: string, command: Command, upstreamArgv: string[], values: Record<string, string>) {
  const upstream = upstreamArgv.map((arg) =>
    Object.entries(values).reduce((text, [from, to]) => text.replace(from, to), arg),
  );
  return differences(
    name,
    { program: command.file, ...parsed(command.args) },
    {
      program: upstream[0],
      ...parsed(upstream.slice(1)),
    },
  );
}

const EXPLAINED_TOOL_DIFFERENCES: Record<string, Explained> = {
  'lm_eval program: "/venv/bin/lm_eval" vs "lm_eval"': {
    why: 'the tools venv (VENV_DIR) is named, not activated in a shell',
    readme: '`.venv/bin/lm_eval`',
  },
  'vllm bench serve program: "/venv/bin/vllm" vs "vllm"': { why: 'the same venv, by path', readme: '`.venv/bin/vllm`' },
  'long doc QA program: "/venv/bin/python" vs "python3"': {
    why: "the venv's Python, which has the script's imports",
    readme: '`.venv/bin/python`',
  },
};

describe('our gpu command lines against upstream', () => {
  const gpu = resolveConfig({ randomSeed: 1234, lmcacheRepoDir: '/src/LMCache' }, { workflowId: 'wf-upstream' });

  it("launch the three containers as upstream's newest launch-containers.sh does, but for the differences named", () => {
    assert.deepEqual(containerDifferences(gpu, NEWEST), Object.keys(EXPLAINED_CONTAINER_DIFFERENCES));
  });

  it('with the knobs set to the server version, launch as that version does, with our exporter port', () => {
    const knobs: ConfigInput = {
      lmcacheServerModule: 'server',
      kvExtraKeys: false,
      noAsyncScheduling: true,
      largeGpuGib: 100,
    };
    const config = resolveConfig(
      { ...knobs, randomSeed: 1234, lmcacheRepoDir: '/src/LMCache' },
      { workflowId: 'wf-upstream' },
    );
    assert.deepEqual(containerDifferences(config, SERVER_VERSION), [
      ...Object.keys(PROMETHEUS_PORT_DIFFERENCE),
      ...Object.keys(EXPLAINED_CONTAINER_DIFFERENCES),
    ]);
  });

  it('run the tools as upstream does, but for the differences named', () => {
    const found = [
      ...toolDifferences('lm_eval', lmEvalCommand(gpu, paths, '/r/lm_eval/first_run'), TOOLS.lmEval!.argv, {
        '<results>': '/r/lm_eval',
      }),
      ...toolDifferences(
        'vllm bench serve',
        benchServeCommand(gpu, paths, { port: 9000, resultDir: '/r/vllm_bench', resultFilename: 'baseline.json' }),
        ['vllm', ...TOOLS.vllmBench!.argv.slice(1)],
        { '<seed>': '1234', '<results>': '/r' },
      ),
      ...toolDifferences(
        'long doc QA',
        longDocQaCommand(gpu, paths, { port: 9000, outputFile: '/r/long_doc_qa/baseline_output.txt' }),
        TOOLS.longDocQa!.argv,
        { '<LMCACHE_DIR>': '/src/LMCache', '<results>': '/r' },
      ),
      ...differences('nvidia-smi query', { args: GPU_QUERY_ARGS }, { args: TOOLS.pickFreeGpu!.argv.slice(1) }),
      ...differences(
        'nvidia-smi total',
        { args: gpuTotalMemoryArgs(GPUS.withLmcache) },
        { args: NEWEST.largeGpu.query.map(resolved) },
      ),
    ];
    assert.deepEqual(found, Object.keys(EXPLAINED_TOOL_DIFFERENCES));
  });

  it('are each named in README\'s "Your first GPU run"', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Your first GPU run'), readme.indexOf('## A fleet'));
    const explained = [EXPLAINED_CONTAINER_DIFFERENCES, PROMETHEUS_PORT_DIFFERENCE, EXPLAINED_TOOL_DIFFERENCES];
    for (const { readme: words } of explained.flatMap(Object.values)) {
      assert.ok(section.includes(words), `README's first GPU run section names ${words}`);
    }
  });

  it('build the image from the same Dockerfile, target, build arguments and tag', () => {
    const upstream = parsed(TOOLS.build!.argv.slice(2));
    assert.deepEqual(upstream['--target'], gpu.buildTarget);
    assert.deepEqual(upstream['--tag'], gpu.image);
    // Upstream runs from docker/ with `--file Dockerfile` and the context `../`: the repository root and
    // docker/Dockerfile in it, which is what we give dockerode.
    assert.deepEqual([upstream['--file'], upstream.positionals], ['Dockerfile', ['../']]);
    assert.equal(gpu.dockerfile, 'docker/Dockerfile');
    const buildArgs = TOOLS.build!.argv.flatMap((arg, i, all) => (all[i - 1] === '--build-arg' ? [arg] : []));
    assert.deepEqual(
      Object.entries(gpu.buildArgs).map(([key, value]) => `${key}=${value}`),
      buildArgs,
    );
  });
});
