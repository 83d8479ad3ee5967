/**
 * Argument arrays of the external tools the suite runs, as pure data: never a shell string. Each builder
 * reproduces the reference suite's command line for the default configuration.
 */
import type { Config } from '../config/schema.js';

export interface Command {
  file: string;
  args: string[];
  env?: Record<string, string>;
}

/** Where the tools live on the worker's node, resolved by the activity. */
export interface ToolPaths {
  /** `<VENV_DIR>/bin`, holding lm_eval (and vllm / python for the upstream drivers). */
  venvBin: string;
  /** This project's root: the builtin drivers and the sim lm_eval tasks live there. */
  projectRoot: string;
  /** The Node.js binary running the worker, for the builtin drivers. */
  nodeBin: string;
  /** Absolute path of the LMCache repository (upstream long_doc_qa.py lives there). */
  lmcacheRepoDir: string;
}

const LOOPBACK = '127.0.0.1';

export function lmEvalCommand(config: Config, paths: ToolPaths, outputPath: string): Command {
  const sim = config.profile === 'sim';
  const modelArgs = [
    `model=${config.model}`,
    `base_url=http://${LOOPBACK}:${config.vllmPort}/v1/completions`,
    `num_concurrent=${config.numConcurrent}`,
    'max_retries=3',
    'tokenized_requests=False',
    // The sim model has no tokenizer on any hub; requests carry text, so none is needed.
    ...(sim ? ['tokenizer_backend=none'] : []),
  ].join(',');
  return {
    file: `${paths.venvBin}/lm_eval`,
    args: [
      '--model',
      'local-completions',
      '--tasks',
      config.lmEvalTask,
      ...(sim ? ['--include_path', `${paths.projectRoot}/sim/lm_eval_tasks`] : []),
      '--model_args',
      modelArgs,
      '--limit',
      String(config.limit),
      '--seed',
      '0',
      '-s',
      '--output_path',
      outputPath,
      '--gen_kwargs',
      '{"temperature": 0.0}',
    ],
    // No hub is reachable in sim: the task's data are local files.
    env: sim ? { HF_DATASETS_OFFLINE: '1', HF_HUB_OFFLINE: '1' } : undefined,
  };
}

export function benchServeCommand(
  config: Config,
  paths: ToolPaths,
  run: { port: number; resultDir: string; resultFilename: string; tokenizer?: string },
): Command {
  const args = [
    '--seed',
    String(config.randomSeed),
    '--port',
    String(run.port),
    '--model',
    config.model,
    '--dataset-name',
    'random',
    '--random-input-len',
    String(config.randomInputLen),
    '--random-output-len',
    String(config.randomOutputLen),
    '--num-prompts',
    String(config.numPrompts),
    '--ignore-eos',
    '--backend',
    'openai-chat',
    '--endpoint',
    '/v1/chat/completions',
    '--result-dir',
    run.resultDir,
    '--result-filename',
    run.resultFilename,
    '--save-result',
    ...(run.tokenizer ? ['--tokenizer', run.tokenizer] : []),
  ];
  // No hub is reachable in sim: the sim model's tokenizer files are local.
  const env = config.profile === 'sim' ? { HF_HUB_OFFLINE: '1' } : undefined;
  return config.benchmarkDriver === 'upstream'
    ? { file: `${paths.venvBin}/vllm`, args: ['bench', 'serve', ...args], env }
    : { file: paths.nodeBin, args: [`${paths.projectRoot}/dist/src/drivers/bench-serve.js`, ...args] };
}

/** LMCache's long document QA benchmark, inside the LMCache repository. */
export const LONG_DOC_QA_SCRIPT = 'benchmarks/long_doc_qa/long_doc_qa.py';

export function usesUpstreamLongDocQa(config: Config): boolean {
  return config.benchmarkDriver === 'upstream' && config.profile === 'gpu';
}

export function longDocQaCommand(config: Config, paths: ToolPaths, run: { port: number; outputFile: string }): Command {
  const args = [
    '--port',
    String(run.port),
    '--model',
    config.model,
    '--document-length',
    String(config.documentLength),
    '--num-documents',
    String(config.numDocuments),
    '--output-len',
    String(config.outputLen),
    '--repeat-count',
    String(config.repeatCount),
    '--repeat-mode',
    config.repeatMode,
    '--shuffle-seed',
    String(config.shuffleSeed),
    '--max-inflight-requests',
    String(config.maxInflightRequests),
    '--output',
    run.outputFile,
    '--json-output',
  ];
  // In sim the builtin driver always runs: the upstream script lives in the LMCache repository, not here.
  return usesUpstreamLongDocQa(config)
    ? { file: `${paths.venvBin}/python`, args: [`${paths.lmcacheRepoDir}/${LONG_DOC_QA_SCRIPT}`, ...args] }
    : { file: paths.nodeBin, args: [`${paths.projectRoot}/dist/src/drivers/long-doc-qa.js`, ...args] };
}

export const NVIDIA_SMI = 'nvidia-smi';
export const GPU_QUERY_ARGS = ['--query-gpu=memory.free,utilization.gpu,index', '--format=csv,noheader,nounits'];
export function gpuTotalMemoryArgs(index: number): string[] {
  return ['--query-gpu=memory.total', '--format=csv,noheader,nounits', '-i', String(index)];
}
