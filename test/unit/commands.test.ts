import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { containerName, containerSpecs, LABEL_ROLE, LABEL_WORKFLOW_ID } from '../../src/commands/containers.js';
import {
  benchServeCommand,
  GPU_QUERY_ARGS,
  gpuTotalMemoryArgs,
  lmEvalCommand,
  longDocQaCommand,
  type ToolPaths,
} from '../../src/commands/tools.js';
import { resolveConfig } from '../../src/config/schema.js';

const gpu = resolveConfig({ randomSeed: 1234, lmcacheRepoDir: '/src/LMCache' }, { workflowId: 'wf-1' });
const sim = resolveConfig({ profile: 'sim', randomSeed: 1234 }, { workflowId: 'wf-1' });
const paths: ToolPaths = {
  venvBin: '/venv/bin',
  projectRoot: '/proj',
  nodeBin: '/usr/bin/node',
  lmcacheRepoDir: '/src/LMCache',
};

/** Splits a reference command line the way bash would for these simple, quoted commands. */
function argv(commandLine: string): string[] {
  return [...commandLine.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

// What upstream runs, and how ours differs, is test/unit/upstream-commands.test.ts; these are our builders' own rules.
describe('container specs', () => {
  const plan = {
    workflowId: 'wf-1',
    hfCacheDir: '/root/.cache/huggingface',
    gpus: { withLmcache: 0, baseline: 1 },
  };
  const [lmcache, vllm, baseline] = containerSpecs(gpu, plan);

  it("run the LMCache server with its HTTP frontend on the run's HTTP port by default, on GPU A", () => {
    assert.deepEqual(lmcache.entrypoint, ['/opt/venv/bin/python3']);
    assert.deepEqual(
      lmcache.cmd,
      argv(
        '-m lmcache.v1.multiprocess.http_server --l1-size-gb 80 --eviction-policy LRU --max-workers 4 --port 6555 --http-port 6556',
      ),
    );
    assert.deepEqual(lmcache.gpus, [0]);
    assert.equal(lmcache.image, 'lmcache/vllm-openai:test');
  });

  it('run the server module with the exporter port launch leased, and no HTTP port', () => {
    const [server] = containerSpecs({ ...gpu, lmcacheServerModule: 'server' }, { ...plan, prometheusPort: 20003 });
    assert.deepEqual(
      server.cmd,
      argv(
        '-m lmcache.v1.multiprocess.server --l1-size-gb 80 --eviction-policy LRU --max-workers 4 --port 6555 --prometheus-port 20003',
      ),
    );
  });

  it('launch vLLM with LMCache on GPU A, with /reset_prefix_cache served (VLLM_SERVER_DEV_MODE)', () => {
    assert.equal(vllm.entrypoint, undefined, 'keeps the image default entrypoint (vllm serve)');
    assert.deepEqual(
      vllm.cmd,
      argv(
        `Qwen/Qwen3-14B --kv-transfer-config '{"kv_connector":"LMCacheMPConnector","kv_role":"kv_both","kv_load_failure_policy":"recompute","kv_connector_extra_config":{"lmcache.mp.port":6555,"lmcache.mp.mq_timeout":10}}' --attention-backend FLASH_ATTN --port 8000`,
      ),
    );
    assert.deepEqual(vllm.env, {
      VLLM_ENABLE_V1_MULTIPROCESSING: '0',
      VLLM_BATCH_INVARIANT: '1',
      PYTHONHASHSEED: '0',
      VLLM_SERVER_DEV_MODE: '1',
    });
    assert.deepEqual(vllm.binds, ['/root/.cache/huggingface:/root/.cache/huggingface']);
    assert.deepEqual(vllm.gpus, [0]);
  });

  it('leave the extra kv keys out and pass --no-async-scheduling when the knobs say so', () => {
    const [, older] = containerSpecs({ ...gpu, kvExtraKeys: false, noAsyncScheduling: true }, plan);
    assert.deepEqual(
      older.cmd,
      argv(
        `Qwen/Qwen3-14B --kv-transfer-config '{"kv_connector":"LMCacheMPConnector","kv_role":"kv_both","kv_connector_extra_config":{"lmcache.mp.port":6555}}' --attention-backend FLASH_ATTN --port 8000 --no-async-scheduling`,
      ),
    );
  });

  it('launch the baseline the same without LMCache, on its port and GPU B', () => {
    assert.deepEqual(baseline.cmd, argv('Qwen/Qwen3-14B --attention-backend FLASH_ATTN --port 9000'));
    assert.deepEqual(baseline.gpus, [1]);
    assert.equal(baseline.port, 9000);
  });

  it('label every container with the workflow id and its role', () => {
    assert.deepEqual(
      [lmcache, vllm, baseline].map((spec) => [spec.labels[LABEL_WORKFLOW_ID], spec.labels[LABEL_ROLE]]),
      [
        ['wf-1', 'lmcache'],
        ['wf-1', 'vllm'],
        ['wf-1', 'baseline'],
      ],
    );
  });

  it('give both vLLMs --gpu-memory-utilization on large GPUs only', () => {
    const large = containerSpecs(gpu, { ...plan, gpuMemoryUtilization: 0.5 });
    assert.deepEqual(large[1].cmd.slice(-2), ['--gpu-memory-utilization', '0.5']);
    assert.deepEqual(large[2].cmd.slice(-2), ['--gpu-memory-utilization', '0.5']);
    assert.ok(!vllm.cmd.includes('--gpu-memory-utilization'));
  });

  it('run the real LMCache server and the sim vLLM servers with the same arguments and no GPU', () => {
    const [simLmcache, simVllm, simBaseline] = containerSpecs(sim, {
      workflowId: 'wf-1',
      hfCacheDir: '/hf',
      lmcacheImage: 'lmcache-mp-lmcache-server:abc',
    });
    assert.equal(simLmcache.image, 'lmcache-mp-lmcache-server:abc');
    assert.deepEqual(simLmcache.entrypoint, ['/opt/venv/bin/python3']);
    assert.deepEqual(
      simLmcache.cmd,
      argv(
        '-m lmcache.v1.multiprocess.http_server --l1-size-gb 1 --eviction-policy LRU --max-workers 4 --port 6555 ' +
          '--http-port 6556',
      ),
    );
    assert.deepEqual(simLmcache.env, {});
    assert.deepEqual(simVllm.entrypoint, ['/usr/bin/node', '/app/src/sim/vllm-server.js']);
    assert.equal(simVllm.cmd[1], '--kv-transfer-config');
    assert.deepEqual(simBaseline.gpus, []);
    assert.equal(simVllm.env.SIM_DEFECT, undefined, "unset: the image's own default (its commit's sim-defect) applies");
  });

  it('pass SIM_DEFECT when the run sets one, none included, so it overrides the image default', () => {
    for (const simDefect of ['none', 'slow-load']) {
      const [, vllm, baseline] = containerSpecs({ ...sim, simDefect }, plan);
      assert.deepEqual([vllm.env.SIM_DEFECT, baseline.env.SIM_DEFECT], [simDefect, simDefect]);
    }
  });

  it('derive names from the workflow id without collisions', () => {
    assert.match(containerName('vllm', 'wf-1'), /^vllm-mp-test-wf-1-[0-9a-f]{8}$/);
    assert.notEqual(containerName('vllm', 'a/b'), containerName('vllm', 'a_b'));
    assert.match(containerName('baseline', '///'), /^vllm-baseline-test-run-[0-9a-f]{8}$/);
  });
});

describe('tool commands', () => {
  it('lm_eval: the reference command', () => {
    const command = lmEvalCommand(gpu, paths, '/results/lm_eval/first_run');
    assert.equal(command.file, '/venv/bin/lm_eval');
    assert.deepEqual(
      command.args,
      argv(
        `--model local-completions --tasks gsm8k --model_args "model=Qwen/Qwen3-14B,base_url=http://127.0.0.1:8000/v1/completions,num_concurrent=50,max_retries=3,tokenized_requests=False" --limit 300 --seed 0 -s --output_path /results/lm_eval/first_run --gen_kwargs '{"temperature": 0.0}'`,
      ),
    );
  });

  it('lm_eval in sim: the local task, no tokenizer, offline', () => {
    const command = lmEvalCommand(sim, paths, '/out');
    assert.deepEqual(command.args.slice(3, 7), [
      'gsm8k_sim',
      '--include_path',
      '/proj/sim/lm_eval_tasks',
      '--model_args',
    ]);
    assert.match(command.args[7], /,tokenizer_backend=none$/);
    assert.deepEqual(command.env, { HF_DATASETS_OFFLINE: '1', HF_HUB_OFFLINE: '1' });
  });

  it('vllm bench serve: the reference command', () => {
    const command = benchServeCommand(gpu, paths, {
      port: 9000,
      resultDir: '/r/vllm_bench',
      resultFilename: 'baseline.json',
    });
    assert.equal(command.file, '/venv/bin/vllm');
    assert.deepEqual(
      command.args,
      argv(
        'bench serve --seed 1234 --port 9000 --model Qwen/Qwen3-14B --dataset-name random --random-input-len 10000 --random-output-len 1 --num-prompts 50 --ignore-eos --backend openai-chat --endpoint /v1/chat/completions --result-dir /r/vllm_bench --result-filename baseline.json --save-result',
      ),
    );
  });

  it('builtin drivers take the upstream arguments', () => {
    const bench = benchServeCommand(sim, paths, { port: 9000, resultDir: '/r', resultFilename: 'lmcache.json' });
    assert.deepEqual(bench.args.slice(0, 3), ['/proj/dist/src/drivers/bench-serve.js', '--seed', '1234']);
    const upstreamArgs = benchServeCommand({ ...sim, benchmarkDriver: 'upstream' }, paths, {
      port: 9000,
      resultDir: '/r',
      resultFilename: 'lmcache.json',
    }).args;
    assert.deepEqual(bench.args.slice(1), upstreamArgs.slice(2));
  });

  it('vllm bench serve: --tokenizer when one is given, offline in sim', () => {
    const run = { port: 9000, resultDir: '/r', resultFilename: 'lmcache.json', tokenizer: '/r/sim-tokenizer' };
    const command = benchServeCommand({ ...sim, benchmarkDriver: 'upstream' }, paths, run);
    assert.deepEqual(command.args.slice(-2), ['--tokenizer', '/r/sim-tokenizer']);
    assert.deepEqual(command.env, { HF_HUB_OFFLINE: '1' });
    assert.equal(benchServeCommand(gpu, paths, { ...run, tokenizer: undefined }).args.includes('--tokenizer'), false);
  });

  it('long doc QA keeps the builtin driver in sim even with BENCHMARK_DRIVER=upstream', () => {
    const command = longDocQaCommand({ ...sim, benchmarkDriver: 'upstream' }, paths, {
      port: 8000,
      outputFile: '/r/o.txt',
    });
    assert.equal(command.args[0], '/proj/dist/src/drivers/long-doc-qa.js');
  });

  it('long doc QA: the reference command', () => {
    const command = longDocQaCommand(gpu, paths, { port: 8000, outputFile: '/r/long_doc_qa/lmcache_output.txt' });
    assert.equal(command.file, '/venv/bin/python');
    assert.deepEqual(
      command.args,
      argv(
        '/src/LMCache/benchmarks/long_doc_qa/long_doc_qa.py --port 8000 --model Qwen/Qwen3-14B --document-length 10000 --num-documents 30 --output-len 200 --repeat-count 2 --repeat-mode tile --shuffle-seed 0 --max-inflight-requests 5 --output /r/long_doc_qa/lmcache_output.txt --json-output',
      ),
    );
  });

  it('nvidia-smi queries are the reference ones', () => {
    assert.deepEqual(
      GPU_QUERY_ARGS,
      argv('--query-gpu=memory.free,utilization.gpu,index --format=csv,noheader,nounits'),
    );
    assert.deepEqual(gpuTotalMemoryArgs(0), argv('--query-gpu=memory.total --format=csv,noheader,nounits -i 0'));
  });
});
