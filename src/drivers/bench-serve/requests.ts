/** The requests of a `vllm bench serve` run, sent as the tool sends them, and what it records of each. */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError, reportProgress, Semaphore } from '../cli.js';
import { streamChatCompletion } from '../openai-stream.js';
import type { RandomRequest } from '../prompts.js';

const NO_CHUNK_ERROR = 'Never received a valid chunk to calculate TTFT.This response will be marked as failed!';

/** One request as vllm's RequestFuncOutput records it; times in seconds. */
export interface Outcome {
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
export interface RequestTemplate {
  apiUrl: string;
  model: string;
  temperature: number | undefined;
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

export async function runBenchmark(
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

/** The tool's endpoint ready check: the first request, retried until it succeeds or the timeout passes. */
export async function readyCheck(template: RequestTemplate, request: RandomRequest, timeoutSec: number): Promise<void> {
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
