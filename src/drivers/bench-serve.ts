/**
 * Builtin stand-in for `vllm bench serve --dataset-name random --backend openai-chat`: same arguments,
 * same requests on the wire, same summary block on stdout and the same result JSON (field names, order,
 * and the per-request lists dropped unless --save-detailed), so one parser reads either tool's output.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError, type OptionTable, type ParsedArgs } from './args.js';
import { calculateMetrics, PERCENTILE_METRICS, type PercentileMetric } from './bench-serve/metrics.js';
import { centred, pyFloat, row, rowF, timestamp } from './bench-serve/output.js';
import { readyCheck, runBenchmark, type RequestTemplate } from './bench-serve/requests.js';
import { arrivalOffsetsMs } from './bench-serve/schedule.js';
import { alignToServer, firstModel, specialTokensAdded } from './bench-serve/server.js';
import { runDriver } from './cli.js';
import { randomDataset } from './prompts.js';
import { mean, median, percentile, std } from './stats.js';

const options: OptionTable = {
  seed: { help: 'seed of the random dataset and of the arrival times (default 0)' },
  host: { help: 'server host (default 127.0.0.1)' },
  port: { help: 'server port (default 8000)' },
  model: { help: 'model name sent in requests (default: the first model of GET /v1/models)' },
  'dataset-name': { help: 'only "random" is implemented' },
  'random-input-len': { help: 'tokens per prompt (default 1024)' },
  'random-output-len': { help: 'max_completion_tokens per request (default 128)' },
  'num-prompts': { help: 'number of requests (default 1000)' },
  'ignore-eos': { flag: true, help: 'send ignore_eos (always on for the random dataset, as in vllm)' },
  backend: { help: 'only "openai-chat" is implemented' },
  endpoint: { help: 'API path, must end with chat/completions' },
  'max-concurrency': { help: 'most requests in flight at once (default unlimited)' },
  'request-rate': { help: 'requests per second as a Poisson process (default inf: all at once)' },
  temperature: { help: 'sampling temperature to send (default: none sent, the server decides)' },
  tokenizer: { help: "recorded as tokenizer_id; the builtin driver counts with the server's /tokenize" },
  'ready-check-timeout-sec': {
    help: 'send one test request first, retrying up to this many seconds (default 0: skip)',
  },
  'percentile-metrics': { help: 'comma list of ttft,tpot,itl,e2el (default ttft,tpot,itl)' },
  'metric-percentiles': { help: 'comma list of percentiles (default 99)' },
  'save-result': { flag: true, help: 'write the result JSON' },
  'save-detailed': { flag: true, help: 'keep per-request lists (input_lens, ttfts, errors, ...) in the result JSON' },
  'result-dir': { help: 'directory of the result JSON (created if missing)' },
  'result-filename': { help: 'file name of the result JSON' },
};

function readSettings(args: ParsedArgs) {
  const datasetName = args.string('dataset-name', 'random');
  if (datasetName !== 'random')
    throw new UsageError(`--dataset-name ${datasetName} is not implemented by the builtin driver (only random)`);
  const backend = args.string('backend', 'openai');
  if (backend !== 'openai-chat')
    throw new UsageError(`--backend ${backend} is not implemented by the builtin driver (only openai-chat)`);
  const endpoint = args.string('endpoint', '/v1/completions');
  if (!endpoint.startsWith('/') || !endpoint.endsWith('chat/completions')) {
    throw new UsageError(`--endpoint ${endpoint}: the OpenAI Chat Completions API URL must end with chat/completions`);
  }
  const percentileMetrics = args.string('percentile-metrics', 'ttft,tpot,itl').split(',');
  for (const metric of percentileMetrics) {
    if (!(PERCENTILE_METRICS as readonly string[]).includes(metric)) {
      throw new UsageError(`--percentile-metrics: '${metric}' is not one of ${PERCENTILE_METRICS.join(', ')}`);
    }
  }
  const metricPercentiles = args
    .string('metric-percentiles', '99')
    .split(',')
    .map((raw) => {
      const p = Number(raw);
      if (raw.trim() === '' || !(p >= 0 && p <= 100))
        throw new UsageError(`--metric-percentiles: '${raw}' is not a percentile`);
      return p;
    });
  const requestRate = args.float('request-rate', Number.POSITIVE_INFINITY);
  if (!(requestRate > 0)) throw new UsageError(`--request-rate must be positive, got ${requestRate}`);
  const host = args.string('host', '127.0.0.1');
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${args.int('port', 8000, 1)}`;
  const temperature = args.optionalFloat('temperature');
  return {
    seed: args.int('seed', 0),
    baseUrl: `http://${hostPort}`,
    apiUrl: `http://${hostPort}${endpoint}`,
    model: args.optionalString('model'),
    backend,
    inputLen: args.int('random-input-len', 1024, 1),
    outputLen: args.int('random-output-len', 128, 1),
    numPrompts: args.int('num-prompts', 1000, 1),
    maxConcurrency: args.optionalInt('max-concurrency', 1),
    requestRate,
    temperature,
    percentileMetrics: percentileMetrics as PercentileMetric[],
    metricPercentiles,
    saveResult: args.flag('save-result'),
    saveDetailed: args.flag('save-detailed'),
    resultDir: args.optionalString('result-dir'),
    resultFilename: args.optionalString('result-filename'),
    tokenizer: args.optionalString('tokenizer'),
    readyCheckTimeoutSec: args.float('ready-check-timeout-sec', 0),
  };
}

async function main(args: ParsedArgs): Promise<number> {
  const s = readSettings(args);
  const served = s.model === undefined ? await firstModel(s.baseUrl) : { name: s.model, id: s.model };
  if (s.model === undefined) console.log(`First model name: ${served.name}, first model id: ${served.id}`);
  const template: RequestTemplate = { apiUrl: s.apiUrl, model: served.name, temperature: s.temperature };
  // The tool subtracts the tokenizer's special tokens from the input length; without a tokenizer of its own
  // this driver asks the server's tokenizer how many it adds.
  const numSpecial = await specialTokensAdded(s.baseUrl, served.name);
  const inputLen = s.inputLen - numSpecial;
  if (inputLen < 1)
    throw new UsageError(`--random-input-len is too small: the tokenizer adds ${numSpecial} special tokens`);
  console.log(
    `Builtin vllm bench serve driver: ${s.numPrompts} random prompts of ${inputLen} tokens (+${numSpecial} special), seed ${s.seed}, ${s.apiUrl}`,
  );
  if (s.temperature === undefined) {
    console.log('WARNING: vllm bench serve no longer sets temperature==0 (greedy) in requests by default.');
  }
  const requests = await alignToServer(
    s.baseUrl,
    served.name,
    randomDataset(s.seed, s.numPrompts, inputLen, s.outputLen),
  );

  console.log('Starting initial single prompt test run...');
  if (s.readyCheckTimeoutSec > 0) {
    await readyCheck(template, requests[0]!, s.readyCheckTimeoutSec);
    console.log('Initial test run completed.');
  } else {
    console.log('Skipping endpoint ready check.');
  }
  console.log('Starting main benchmark run...');
  console.log(`Traffic request rate: ${pyFloat(s.requestRate)}`);
  console.log('Burstiness factor: 1.0 (Poisson process)');
  console.log(`Maximum request concurrency: ${s.maxConcurrency ?? 'None'}`);
  const offsetsMs = arrivalOffsetsMs(s.seed, s.numPrompts, s.requestRate);
  const { outcomes, duration } = await runBenchmark(template, requests, offsetsMs, s.maxConcurrency);
  const metrics = calculateMetrics(outcomes, duration);

  const failures = outcomes.filter((o) => !o.success);
  if (failures.length > 0) {
    console.log('Failed requests during benchmark run detected (capping to 10):');
    failures.slice(0, 10).forEach((o, i) => console.log(`Error ${i}: ${o.error}`));
  }
  const lines = [
    centred(' Serving Benchmark Result ', '='),
    row('Successful requests:', metrics.completed),
    row('Failed requests:', metrics.failed),
    ...(s.maxConcurrency === undefined ? [] : [row('Maximum request concurrency:', s.maxConcurrency)]),
    ...(s.requestRate === Number.POSITIVE_INFINITY ? [] : [rowF('Request rate configured (RPS):', s.requestRate)]),
    rowF('Benchmark duration (s):', duration),
    row('Total input tokens:', metrics.totalInput),
    row('Total generated tokens:', metrics.totalOutput),
    rowF('Request throughput (req/s):', metrics.requestThroughput),
    rowF('Output token throughput (tok/s):', metrics.outputThroughput),
    rowF('Peak output token throughput (tok/s):', metrics.maxOutputTokensPerS),
    rowF('Peak concurrent requests:', metrics.maxConcurrentRequests),
    rowF('Total token throughput (tok/s):', metrics.totalTokenThroughput),
  ];

  const now = new Date();
  const result: Record<string, unknown> = {
    date: timestamp(now),
    endpoint_type: s.backend,
    backend: s.backend,
    label: null,
    model_id: served.id,
    tokenizer_id: s.tokenizer ?? served.id,
    num_prompts: s.numPrompts,
    request_rate: s.requestRate === Number.POSITIVE_INFINITY ? 'inf' : s.requestRate,
    burstiness: 1.0,
    max_concurrency: s.maxConcurrency ?? null,
    duration,
    completed: metrics.completed,
    failed: metrics.failed,
    total_input_tokens: metrics.totalInput,
    total_output_tokens: metrics.totalOutput,
    request_throughput: metrics.requestThroughput,
    request_goodput: null,
    output_throughput: metrics.outputThroughput,
    total_token_throughput: metrics.totalTokenThroughput,
    input_lens: outcomes.map((o) => o.promptLen),
    output_lens: metrics.outputLens,
    ttfts: outcomes.map((o) => o.ttft),
    itls: outcomes.map((o) => o.itl),
    latencies: outcomes.map((o) => o.latency),
    start_times: outcomes.map((o) => o.startTime),
    queue_times: outcomes.map((o) => o.queueTime),
    generated_texts: outcomes.map((o) => o.generatedText),
    errors: outcomes.map((o) => o.error),
    max_output_tokens_per_s: metrics.maxOutputTokensPerS,
    max_concurrent_requests: metrics.maxConcurrentRequests,
    rtfx: 0.0,
  };
  const headers: Record<PercentileMetric, [string, string]> = {
    ttft: ['TTFT', 'Time to First Token'],
    tpot: ['TPOT', 'Time per Output Token (excl. 1st token)'],
    itl: ['ITL', 'Inter-token Latency'],
    e2el: ['E2EL', 'End-to-end Latency'],
  };
  // vllm reports these in this fixed order, whatever order --percentile-metrics lists them in.
  for (const metric of PERCENTILE_METRICS) {
    if (!s.percentileMetrics.includes(metric)) continue;
    const [short, header] = headers[metric];
    const samples = metrics.samples[metric];
    const meanMs = mean(samples) * 1000;
    const medianMs = median(samples) * 1000;
    lines.push(centred(header, '-'), rowF(`Mean ${short} (ms):`, meanMs), rowF(`Median ${short} (ms):`, medianMs));
    result[`mean_${metric}_ms`] = meanMs;
    result[`median_${metric}_ms`] = medianMs;
    result[`std_${metric}_ms`] = std(samples) * 1000;
    for (const p of s.metricPercentiles) {
      // Python's `str(int(p)) if int(p) == p else str(p)` is what JS's String gives.
      const word = String(p);
      const valueMs = percentile(samples, p) * 1000;
      lines.push(rowF(`P${word} ${short} (ms):`, valueMs));
      result[`p${word}_${metric}_ms`] = valueMs;
    }
  }
  lines.push('='.repeat(50));
  console.log(lines.join('\n'));

  if (!s.saveDetailed) {
    for (const field of ['input_lens', 'output_lens', 'start_times', 'ttfts', 'itls', 'generated_texts', 'errors']) {
      delete result[field];
    }
  }
  if (s.saveResult) {
    const baseModelId = served.id.split('/').pop()!;
    const concurrency = s.maxConcurrency === undefined ? '' : `-concurrency${s.maxConcurrency}`;
    let fileName =
      s.resultFilename ??
      `${s.backend}-${pyFloat(s.requestRate)}qps${concurrency}-${baseModelId}-${result['date']}.json`;
    if (s.resultDir !== undefined) {
      await mkdir(s.resultDir, { recursive: true });
      fileName = join(s.resultDir, fileName);
    }
    await writeFile(fileName, JSON.stringify(result));
    console.log(`Result written to ${fileName}`);
  }
  if (metrics.completed === 0) {
    process.stderr.write('bench-serve: error: all requests failed\n');
    return 1;
  }
  return 0;
}

await runDriver({
  program: 'bench-serve',
  summary: 'Builtin stand-in for `vllm bench serve` with the random dataset and the openai-chat backend.',
  options,
  main,
});
