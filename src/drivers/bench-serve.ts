/**
 * Builtin stand-in for `vllm bench serve --dataset-name random --backend openai-chat`: same arguments,
 * same requests on the wire, same summary block on stdout and the same result JSON (field names, order,
 * and the per-request lists dropped unless --save-detailed), so one parser reads either tool's output.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { countTokens } from '../sim/tokens.js';
import { UsageError, type OptionTable, type ParsedArgs } from './args.js';
import { describeError, reportProgress, runDriver, Semaphore } from './cli.js';
import { streamChatCompletion } from './openai-stream.js';
import { randomDataset, type RandomRequest } from './prompts.js';
import { PyRandom } from './py-random.js';
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

const PERCENTILE_METRICS = ['ttft', 'tpot', 'itl', 'e2el'] as const;
type PercentileMetric = (typeof PERCENTILE_METRICS)[number];

const NO_CHUNK_ERROR = 'Never received a valid chunk to calculate TTFT.This response will be marked as failed!';

/** One request as vllm's RequestFuncOutput records it; times in seconds. */
interface Outcome {
  success: boolean;
  promptLen: number;
  outputTokens: number;
  ttft: number;
  itl: number[];
  latency: number;
  startTime: number;
  queueTime: number;
  generatedText: string;
  error: string;
}

/** What every request of a run shares. */
interface RequestTemplate {
  apiUrl: string;
  model: string;
  temperature: number | undefined;
}

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

/** vllm's get_first_model_from_server: the served name for requests, its root for the result's model_id. */
async function firstModel(baseUrl: string): Promise<{ name: string; id: string }> {
  const response = await fetch(`${baseUrl}/v1/models`);
  if (!response.ok) throw new Error(`GET ${baseUrl}/v1/models answered ${response.status} ${response.statusText}`);
  const body = (await response.json()) as { data?: Array<{ id?: string; root?: string }> };
  const first = body.data?.[0];
  if (typeof first?.id !== 'string') throw new Error(`No models found on the server at ${baseUrl}.`);
  return { name: first.id, id: first.root ?? first.id };
}

/**
 * vllm's arrival schedule with burstiness 1: exponential gaps, rescaled so the last request arrives at
 * exactly num_prompts / rate seconds; an infinite rate sends everything at once.
 */
function arrivalOffsetsMs(seed: number, count: number, rate: number): number[] {
  if (rate === Number.POSITIVE_INFINITY) return new Array<number>(count).fill(0);
  const rng = new PyRandom(seed);
  const cumulative: number[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    total += -Math.log(1 - rng.random()) / rate;
    cumulative.push(total);
  }
  const scale = total > 0 ? count / rate / total : 0;
  return cumulative.map((t) => t * scale * 1000);
}

/**
 * One request as current `vllm bench serve` sends it: no temperature unless asked, and the prompt's length
 * taken from the server's `usage.prompt_tokens` when it reports one (chat template included).
 */
async function sendOne(template: RequestTemplate, request: RandomRequest, requestId: string): Promise<Outcome> {
  const body = {
    model: template.model,
    messages: [{ role: 'user', content: [{ type: 'text', text: request.prompt }] }],
    ...(template.temperature === undefined ? {} : { temperature: template.temperature }),
    max_completion_tokens: request.outputLen,
    stream: true,
    stream_options: { include_usage: true },
    ignore_eos: true,
  };
  const headers: Record<string, string> = { 'x-request-id': requestId };
  if (process.env['OPENAI_API_KEY']) headers['Authorization'] = `Bearer ${process.env['OPENAI_API_KEY']}`;

  const startedAt = performance.now();
  const outcome: Outcome = {
    success: false,
    promptLen: request.promptLen,
    outputTokens: 0,
    ttft: 0,
    itl: [],
    latency: 0,
    startTime: startedAt / 1000,
    queueTime: 0,
    generatedText: '',
    error: '',
  };
  try {
    const stream = await streamChatCompletion({ url: template.apiUrl, body, headers });
    const times = stream.choiceChunkTimes;
    outcome.generatedText = stream.text;
    outcome.outputTokens = stream.usage?.completion_tokens ?? 0;
    outcome.promptLen = stream.usage?.prompt_tokens ?? outcome.promptLen;
    if (times.length === 0) {
      outcome.error = NO_CHUNK_ERROR;
      return outcome;
    }
    outcome.success = true;
    outcome.ttft = (times[0]! - stream.sentAt) / 1000;
    outcome.itl = times.slice(1).map((t, i) => (t - times[i]!) / 1000);
    outcome.latency = (times[times.length - 1]! - stream.sentAt) / 1000;
  } catch (error) {
    outcome.error = describeError(error);
  }
  return outcome;
}

async function runBenchmark(
  template: RequestTemplate,
  requests: readonly RandomRequest[],
  offsetsMs: readonly number[],
  maxConcurrency: number | undefined,
) {
  const requestIdPrefix = `bench-${randomBytes(4).toString('hex')}-`;
  const semaphore = maxConcurrency === undefined ? undefined : new Semaphore(maxConcurrency);
  let done = 0;
  const benchmarkStart = performance.now();
  const outcomes = await Promise.all(
    requests.map(async (request, i) => {
      const wait = benchmarkStart + offsetsMs[i]! - performance.now();
      if (wait > 0) await sleep(wait);
      const arrivedAt = performance.now() / 1000;
      const send = () => sendOne(template, request, `${requestIdPrefix}${i}`);
      const outcome = await (semaphore ? semaphore.run(send) : send());
      outcome.queueTime = outcome.startTime - arrivedAt;
      reportProgress('bench', ++done, requests.length);
      return outcome;
    }),
  );
  return { outcomes, duration: (performance.now() - benchmarkStart) / 1000 };
}

/** vllm's calculate_metrics, including its peak tokens-per-second buckets and peak concurrency sweep. */
function calculateMetrics(outcomes: readonly Outcome[], duration: number) {
  const outputLens: number[] = [];
  const ttfts: number[] = [];
  const tpots: number[] = [];
  const itls: number[] = [];
  const e2els: number[] = [];
  let totalInput = 0;
  let completed = 0;
  for (const o of outcomes) {
    if (!o.success) {
      outputLens.push(0);
      continue;
    }
    const outputLen = o.outputTokens || countTokens(o.generatedText);
    outputLens.push(outputLen);
    totalInput += o.promptLen;
    if (outputLen > 1) tpots.push((o.latency - o.ttft) / (outputLen - 1));
    itls.push(...o.itl);
    ttfts.push(o.ttft);
    e2els.push(o.latency);
    completed++;
  }
  const successful = outcomes.filter((o) => o.success);
  let maxOutputTokensPerS = 0;
  let maxConcurrentRequests = 0;
  if (successful.length > 0) {
    const minStart = Math.min(...successful.map((o) => o.startTime));
    const maxEnd = Math.max(...successful.map((o) => o.startTime + o.latency));
    const buckets = new Array<number>(Math.ceil(maxEnd - minStart) + 1).fill(0);
    for (const o of successful) {
      let tokenTime = o.startTime + o.ttft;
      const tokenTimes = [tokenTime];
      for (const gap of o.itl) tokenTimes.push((tokenTime += gap));
      for (const t of tokenTimes) {
        const bucket = Math.trunc(t - minStart);
        if (bucket >= 0 && bucket < buckets.length) buckets[bucket]!++;
      }
    }
    maxOutputTokensPerS = Math.max(...buckets);
    // Half-open intervals: at equal times a departure is counted before an arrival.
    const events = successful.flatMap((o) => [
      [o.startTime, 1],
      [o.startTime + o.latency, -1],
    ]) as Array<[number, number]>;
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let current = 0;
    for (const [, delta] of events) maxConcurrentRequests = Math.max(maxConcurrentRequests, (current += delta));
  }
  const totalOutput = outputLens.reduce((sum, n) => sum + n, 0);
  return {
    completed,
    failed: outcomes.length - completed,
    totalInput,
    totalOutput,
    outputLens,
    requestThroughput: completed / duration,
    outputThroughput: totalOutput / duration,
    totalTokenThroughput: (totalInput + totalOutput) / duration,
    samples: { ttft: ttfts, tpot: tpots, itl: itls, e2el: e2els } satisfies Record<PercentileMetric, number[]>,
    maxOutputTokensPerS,
    maxConcurrentRequests,
  };
}

// Python's "{:<40} {:<10}" and "{:<10.2f}" columns, and "{s:{c}^{n}}" centred headers.
const row = (label: string, value: string | number) => `${label.padEnd(40)} ${String(value).padEnd(10)}`;
const rowF = (label: string, value: number) => row(label, value.toFixed(2));
function centred(text: string, fill: string): string {
  const left = Math.max(0, Math.floor((50 - text.length) / 2));
  return fill.repeat(left) + text + fill.repeat(Math.max(0, 50 - text.length - left));
}

/** Python's str(float) for the values that reach file names and log lines. */
function pyFloat(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return 'inf';
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

function timestamp(now: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}${two(now.getMonth() + 1)}${two(now.getDate())}-${two(now.getHours())}${two(now.getMinutes())}${two(now.getSeconds())}`;
}

/** POSTs JSON to one of vLLM's own routes; undefined when the server has no such route. */
async function postJson(url: string, body: unknown): Promise<Record<string, unknown> | undefined> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status} ${response.statusText}`);
  return (await response.json()) as Record<string, unknown>;
}

/** What the model's tokenizer adds to a prompt (`num_special_tokens_to_add`), from the server's /tokenize; 0 without one. */
async function specialTokensAdded(baseUrl: string, model: string): Promise<number> {
  const count = async (addSpecialTokens: boolean) =>
    (await postJson(`${baseUrl}/tokenize`, { model, prompt: 'x', add_special_tokens: addSpecialTokens }))?.count as
      number | undefined;
  const [framed, plain] = [await count(true), await count(false)];
  return framed === undefined || plain === undefined ? 0 : framed - plain;
}

/**
 * The tool's `_align_prompts_to_server_tokenizer`: when the server counts the first prompt differently from
 * its intended length, every prompt longer on the server is cut to that length through /detokenize.
 */
async function alignToServer(baseUrl: string, model: string, requests: RandomRequest[]): Promise<RandomRequest[]> {
  const tokensOf = async (prompt: string) =>
    (await postJson(`${baseUrl}/tokenize`, { model, prompt, add_special_tokens: false }))?.tokens as
      number[] | undefined;
  const first = await tokensOf(requests[0]!.prompt);
  if (first === undefined) {
    console.log('WARNING: /tokenize unavailable (404 Not Found), skipping alignment.');
    return requests;
  }
  if (first.length === requests[0]!.promptLen) return requests;
  console.log(
    `WARNING: tokenizer mismatch (server=${first.length}, expected=${requests[0]!.promptLen}), re-aligning prompts.`,
  );
  return Promise.all(
    requests.map(async (request) => {
      const tokens = (await tokensOf(request.prompt))!;
      if (tokens.length <= request.promptLen) return request;
      const corrected = await postJson(`${baseUrl}/detokenize`, { model, tokens: tokens.slice(0, request.promptLen) });
      return { ...request, prompt: String(corrected!.prompt) };
    }),
  );
}

/** The tool's endpoint ready check: the first request, retried until it succeeds or the timeout passes. */
async function readyCheck(template: RequestTemplate, request: RandomRequest, timeoutSec: number): Promise<void> {
  const deadline = performance.now() + timeoutSec * 1000;
  for (;;) {
    const outcome = await sendOne(template, request, `bench-ready-check`);
    if (outcome.success) return;
    if (performance.now() >= deadline) {
      throw new Error(
        `Initial test run failed - Please make sure benchmark arguments are correctly specified. Error: ${outcome.error}`,
      );
    }
    await sleep(1000);
  }
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
