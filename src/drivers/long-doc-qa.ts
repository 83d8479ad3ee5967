/**
 * Builtin stand-in for LMCache's benchmarks/long_doc_qa/long_doc_qa.py (chat completions mode): the same
 * arguments, prompts, rounds, response log (--output), per-round CSVs in the working directory, result
 * lines, and with --json-output the same one-line JSON summary as the last line of stdout.
 */
import { appendFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError, type OptionTable, type ParsedArgs } from './args.js';
import { describeError, reportProgress, runDriver, Semaphore } from './cli.js';
import { streamChatCompletion } from './openai-stream.js';
import { documentPrompts, preWarmupPrompts, REPEAT_MODES, repeatPrompts } from './prompts.js';
import { PyRandom } from './py-random.js';
import { mean } from './stats.js';

const options: OptionTable = {
  host: { help: 'server host (default 127.0.0.1: upstream says localhost, which may resolve to ::1 first)' },
  port: { help: 'server port (default 8000)' },
  model: { help: 'model name, or "auto" for the first model of GET /v1/models (default auto)' },
  'document-length': { help: 'tokens of "hi" per document, after the document id (default 20000)' },
  'num-documents': { help: 'number of documents (default 8)' },
  'output-len': { help: 'max_tokens per request (default 100)' },
  'repeat-count': { help: 'times each document appears in the query round (default 2)' },
  'repeat-mode': { help: 'random, tile or interleave (default random)' },
  'shuffle-seed': { help: 'seed of the random repeat mode (default 0)' },
  'max-inflight-requests': { help: 'most requests in flight at once (default 2)' },
  'sleep-time-after-warmup': { help: 'seconds to wait between the warm-up and query rounds (default 0)' },
  output: { help: 'file the prompts and responses are appended to (default stdout)' },
  'json-output': { flag: true, help: 'print the summary as one JSON line, last on stdout' },
};

/** One row of upstream's warmup_round.csv / query_round.csv, times in seconds relative to the round start. */
interface RequestStats {
  promptId: number;
  requestStart: number;
  /** -1 when the stream carried no content, which upstream counts as unsuccessful. */
  ttft: number;
  requestEnd: number;
  successful: boolean;
}

interface Round {
  stats: RequestStats[];
  /** Wall time of the whole round, seconds. */
  duration: number;
}

class RunContext {
  private readonly abort = new AbortController();

  constructor(
    readonly url: string,
    readonly model: string,
    readonly outputLen: number,
    readonly maxInflight: number,
    private readonly outputFile: string | undefined,
  ) {}

  /** Upstream's write_resp: append to --output, or stdout without it. */
  write(text: string): void {
    if (this.outputFile === undefined) process.stdout.write(text);
    else appendFileSync(this.outputFile, text);
  }

  /**
   * Upstream sends a round with asyncio.gather over a semaphore; one failed request aborts the run there
   * (the exception propagates), so here too the first failure cancels the rest and fails the driver.
   */
  async round(phase: string, prompts: readonly string[]): Promise<Round> {
    const semaphore = new Semaphore(this.maxInflight);
    const roundStart = performance.now();
    let done = 0;
    const stats = await Promise.all(
      prompts.map((prompt, index) =>
        semaphore.run(async () => {
          this.abort.signal.throwIfAborted();
          this.write(`\n--- Sending prompt ${index + 1}/${prompts.length} ---\n`);
          try {
            const stream = await streamChatCompletion({
              url: this.url,
              body: {
                messages: [{ role: 'user', content: prompt }],
                model: this.model,
                max_tokens: this.outputLen,
                stream: true,
                stream_options: { include_usage: true },
                temperature: 0.0,
                // The openai client upstream passes logit_bias=None explicitly, which goes out as null.
                logit_bias: null,
              },
              headers: { Authorization: `Bearer ${process.env['OPENAI_API_KEY'] ?? 'sk-dummy'}` },
              signal: this.abort.signal,
            });
            const end = performance.now();
            this.write(`\nResponse of request ${index}: ${stream.text}\n`);
            const ttft = stream.firstContentAt === undefined ? -1 : (stream.firstContentAt - stream.sentAt) / 1000;
            reportProgress(phase, ++done, prompts.length);
            return {
              promptId: index,
              requestStart: (stream.sentAt - roundStart) / 1000,
              ttft,
              requestEnd: (end - roundStart) / 1000,
              successful: ttft > 0,
            };
          } catch (error) {
            if (!this.abort.signal.aborted) this.abort.abort();
            throw new Error(`${phase} request ${index} failed: ${describeError(error)}`);
          }
        }),
      ),
    );
    return { stats, duration: (performance.now() - roundStart) / 1000 };
  }
}

/** Upstream resolves "auto" to the first model the server lists. */
async function resolveModel(baseUrl: string, model: string): Promise<string> {
  if (model !== 'auto') return model;
  process.stdout.write('Auto-selecting model... ');
  const response = await fetch(`${baseUrl}/models`);
  if (!response.ok) throw new Error(`GET ${baseUrl}/models answered ${response.status} ${response.statusText}`);
  const body = (await response.json()) as { data?: Array<{ id?: string }> };
  const id = body.data?.[0]?.id;
  if (typeof id !== 'string') throw new Error(`no model listed at ${baseUrl}/models`);
  console.log(`selected model: ${id}`);
  return id;
}

/** pandas' to_csv of upstream's frames: the column order differs between the two rounds, as upstream's does. */
function roundCsv(stats: readonly RequestStats[], columns: readonly string[], isMiss: boolean): string {
  const pyBool = (value: boolean) => (value ? 'True' : 'False');
  const cells = (s: RequestStats): Record<string, string> => ({
    prompt_id: String(s.promptId),
    request_start: String(s.requestStart),
    ttft: String(s.ttft),
    request_end: String(s.requestEnd),
    successful: pyBool(s.successful),
    ttft_time: String(s.requestStart + s.ttft),
    is_miss: pyBool(isMiss),
  });
  return [columns.join(','), ...stats.map((s) => columns.map((c) => cells(s)[c]).join(','))].join('\n') + '\n';
}

/** Python's json.dumps, so the line reads as upstream's does: its separators, and NaN where a mean had no samples. */
function pythonJsonLine(summary: Readonly<Record<string, number>>): string {
  return `{${Object.entries(summary)
    .map(([key, value]) => `${JSON.stringify(key)}: ${Number.isNaN(value) ? 'NaN' : JSON.stringify(value)}`)
    .join(', ')}}`;
}

async function main(args: ParsedArgs): Promise<number> {
  const host = args.string('host', '127.0.0.1');
  const port = args.int('port', 8000, 1);
  const documentLength = args.int('document-length', 20000, 1);
  const numDocuments = args.int('num-documents', 8, 1);
  const outputLen = args.int('output-len', 100, 1);
  const repeatCount = args.int('repeat-count', 2, 1);
  const repeatMode = args.choice('repeat-mode', REPEAT_MODES, 'random');
  const shuffleSeed = args.int('shuffle-seed', 0);
  const maxInflight = args.int('max-inflight-requests', 2, 1);
  const sleepAfterWarmup = args.float('sleep-time-after-warmup', 0);
  const jsonOutput = args.flag('json-output');
  const modelArg = args.string('model', 'auto');
  const output = args.optionalString('output');
  if (!(sleepAfterWarmup >= 0 && sleepAfterWarmup < Number.POSITIVE_INFINITY)) {
    throw new UsageError(`--sleep-time-after-warmup must be a finite number of seconds >= 0, got ${sleepAfterWarmup}`);
  }

  const rng = new PyRandom(shuffleSeed);
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`;
  console.log('Using base URL:', baseUrl);
  const model = await resolveModel(baseUrl, modelArg);
  const run = new RunContext(`${baseUrl}/chat/completions`, model, outputLen, maxInflight, output);

  await run.round('prewarmup', preWarmupPrompts());

  const warmupPrompts = documentPrompts(numDocuments, documentLength);
  run.write(`Repeat mode:  ${repeatMode}\n`);
  const queryPrompts = repeatPrompts(warmupPrompts, repeatCount, repeatMode, rng);

  run.write('------warm up round------\n');
  const warmup = await run.round('warmup', warmupPrompts);
  run.write('------query round------\n');
  if (sleepAfterWarmup > 0) {
    run.write(`Sleeping for ${sleepAfterWarmup} seconds after warmup...\n`);
    await sleep(sleepAfterWarmup * 1000);
  }
  const query = await run.round('query', queryPrompts);

  await writeFile(
    'warmup_round.csv',
    roundCsv(
      warmup.stats,
      ['prompt_id', 'request_start', 'ttft', 'request_end', 'successful', 'ttft_time', 'is_miss'],
      true,
    ),
  );
  await writeFile(
    'query_round.csv',
    roundCsv(
      query.stats,
      ['prompt_id', 'request_start', 'ttft', 'request_end', 'successful', 'is_miss', 'ttft_time'],
      false,
    ),
  );

  const warmupOk = warmup.stats.filter((s) => s.successful);
  const queryOk = query.stats.filter((s) => s.successful);
  // Upstream's pandas mean over no successful request is NaN, and it prints it as such, JSON line included.
  const meanTtft = (ok: readonly RequestStats[]) => (ok.length === 0 ? Number.NaN : mean(ok.map((s) => s.ttft)));
  const warmupMeanTtft = meanTtft(warmupOk);
  const queryMeanTtft = meanTtft(queryOk);
  const seconds = (value: number) => (Number.isNaN(value) ? 'nan' : value.toFixed(3)); // Python's f"{x:.3f}"
  const CSI = '\x1b[';
  const RESET = `${CSI}0m`;
  console.log(`Warmup round mean TTFT: ${seconds(warmupMeanTtft)}s`);
  console.log(`Warmup round time: ${seconds(warmup.duration)}s`);
  console.log(`Warmup round prompt count: ${warmup.stats.length}`);
  console.log(`Warmup round successful prompt count: ${warmupOk.length}`);
  console.log(`${CSI}36;1m\n=== BENCHMARK RESULTS ===${RESET}`);
  console.log(`${CSI}32mQuery round mean TTFT: ${seconds(queryMeanTtft)}s${RESET}`);
  console.log(`${CSI}33mQuery round time: ${seconds(query.duration)}s${RESET}`);
  console.log(`${CSI}35mQuery round prompt count: ${query.stats.length}${RESET}`);
  console.log(`${CSI}34mQuery round successful prompt count: ${queryOk.length}${RESET}`);

  if (jsonOutput) {
    console.log(
      pythonJsonLine({
        query_ttft_per_prompt: queryMeanTtft,
        query_round_time_per_prompt: query.duration / query.stats.length,
        warmup_round_time_per_prompt: warmup.duration / warmup.stats.length,
      }),
    );
  }
  return 0;
}

await runDriver({
  program: 'long-doc-qa',
  summary: "Builtin stand-in for LMCache's benchmarks/long_doc_qa/long_doc_qa.py (chat completions).",
  options,
  main,
});
