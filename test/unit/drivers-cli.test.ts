/**
 * The builtin drivers as the pipeline runs them: real child processes against a fake OpenAI-compatible
 * SSE server (in this process) that records every request it receives.
 */
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { countTokens, tokenize } from '../../src/sim/tokens.js';

const BENCH_SERVE = fileURLToPath(new URL('../../src/drivers/bench-serve.js', import.meta.url));
const LONG_DOC_QA = fileURLToPath(new URL('../../src/drivers/long-doc-qa.js', import.meta.url));

interface Received {
  body: Record<string, any>;
  headers: IncomingHttpHeaders;
  /** The prompt text, whether sent as a string or as content parts. */
  prompt: string;
}

interface FakeOptions {
  /** Milliseconds before the first chunk (the role chunk), as a real server's prefill. */
  roleChunkDelayMs?: number;
  /** Milliseconds between the role chunk and the first content chunk. */
  contentDelayMs?: number;
  /** Status to answer with instead of streaming, per request (0-based arrival index). */
  failWith?: (arrival: number, request: Received) => number | undefined;
  reportUsage?: boolean;
  /** Stream only the role chunk and empty deltas: no content at all. */
  noContent?: boolean;
  /**
   * vLLM's /tokenize and /detokenize: `frame` special tokens added when asked (as the sim tokenizer adds 3),
   * `extraPerWord` extra tokens counted per word (a tokenizer that disagrees with the client). No routes when absent.
   */
  tokenizer?: { frame: number; extraPerWord?: number };
}

class FakeServer {
  readonly received: Received[] = [];
  inFlight = 0;
  maxInFlight = 0;
  modelListings = 0;
  private server: Server | undefined;

  constructor(private readonly options: FakeOptions = {}) {}

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/v1/models') {
        this.modelListings++;
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'served-model', root: 'org/root-model' }] }));
        return;
      }
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      req.on('end', () => {
        if (req.url === '/tokenize' || req.url === '/detokenize') this.tokenizerRoute(req.url, raw, res);
        else void this.complete(req.headers, raw, res);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  readonly tokenizerCalls: string[] = [];

  /** Ids are word indexes into `words`; a word counted twice (extraPerWord) repeats its id. */
  private readonly words: string[] = [];

  private tokenizerRoute(url: string, raw: string, res: import('node:http').ServerResponse) {
    const tokenizer = this.options.tokenizer;
    if (!tokenizer) {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"detail":"Not Found"}');
      return;
    }
    this.tokenizerCalls.push(url);
    const body = JSON.parse(raw) as Record<string, any>;
    res.setHeader('Content-Type', 'application/json');
    if (url === '/detokenize') {
      const unique = (body['tokens'] as number[]).filter((id, i, ids) => ids.indexOf(id) === i);
      res.end(JSON.stringify({ prompt: unique.map((id) => this.words[id]).join(' ') }));
      return;
    }
    const ids = tokenize(body['prompt']).flatMap((word) => {
      if (!this.words.includes(word)) this.words.push(word);
      return new Array<number>(1 + (tokenizer.extraPerWord ?? 0)).fill(this.words.indexOf(word));
    });
    const count = ids.length + (body['add_special_tokens'] === false ? 0 : tokenizer.frame);
    res.end(JSON.stringify({ count, max_model_len: 40960, tokens: ids }));
  }

  private async complete(headers: IncomingHttpHeaders, raw: string, res: import('node:http').ServerResponse) {
    const body = JSON.parse(raw) as Record<string, any>;
    const content = body['messages'][0].content;
    const prompt = typeof content === 'string' ? content : content.map((part: { text: string }) => part.text).join('');
    const request = { body, headers, prompt };
    const arrival = this.received.push(request) - 1;
    const status = this.options.failWith?.(arrival, request);
    if (status !== undefined) {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end('{"error":"injected"}');
      return;
    }
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
    const id = `chatcmpl-${arrival}`;
    await new Promise((resolve) => setTimeout(resolve, this.options.roleChunkDelayMs ?? 0));
    send({ id, choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] });
    await new Promise((resolve) => setTimeout(resolve, this.options.contentDelayMs ?? 0));
    const tokens = Number(body['max_completion_tokens'] ?? body['max_tokens']);
    for (let k = 0; k < tokens; k++) {
      send({ id, choices: [{ index: 0, delta: { content: this.options.noContent ? '' : k === 0 ? 'tok' : ' tok' } }] });
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (this.options.reportUsage ?? true) {
      // Like vLLM and the sim server, count the chat template's tokens too.
      const promptTokens = countTokens(prompt) + 3;
      send({
        id,
        choices: [],
        usage: { prompt_tokens: promptTokens, completion_tokens: tokens, total_tokens: promptTokens + tokens },
      });
    }
    res.end('data: [DONE]\n\n');
    this.inFlight--;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function run(script: string, args: readonly string[], cwd?: string): Promise<Run> {
  const result = await execa(process.execPath, [script, ...args], { cwd, stdin: 'ignore', reject: false });
  return { code: result.exitCode ?? null, stdout: String(result.stdout), stderr: String(result.stderr) };
}

async function withServer<T>(options: FakeOptions, body: (server: FakeServer) => Promise<T>): Promise<T> {
  const server = new FakeServer(options);
  await server.start();
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'drivers-test-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The suite's `vllm bench serve` argument list, at test scale. */
function benchArgs(
  port: number,
  opts: { seed?: number; prompts?: number; inputLen?: number; outputLen?: number; name: string },
) {
  return [
    '--seed',
    String(opts.seed ?? 0),
    '--port',
    String(port),
    '--model',
    'org/test-model',
    '--dataset-name',
    'random',
    '--random-input-len',
    String(opts.inputLen ?? 200),
    '--random-output-len',
    String(opts.outputLen ?? 3),
    '--num-prompts',
    String(opts.prompts ?? 8),
    '--ignore-eos',
    '--backend',
    'openai-chat',
    '--endpoint',
    '/v1/chat/completions',
    '--result-dir',
    join(tmp, 'bench'),
    '--result-filename',
    `${opts.name}.json`,
    '--save-result',
  ];
}

async function readResult(name: string): Promise<Record<string, any>> {
  return JSON.parse(await readFile(join(tmp, 'bench', `${name}.json`), 'utf8')) as Record<string, any>;
}

/** Prompts keyed by the index in their x-request-id, since arrival order is not request order. */
function promptsByIndex(received: readonly Received[]): string[] {
  const prompts: string[] = [];
  for (const r of received) prompts[Number(/-(\d+)$/.exec(String(r.headers['x-request-id']))![1])] = r.prompt;
  return prompts;
}

describe('bench-serve driver', () => {
  it('sends num_prompts streaming chat requests of exactly random-input-len tokens and writes the result JSON', async () => {
    await withServer({ tokenizer: { frame: 3 } }, async (server) => {
      const result = await run(
        BENCH_SERVE,
        benchArgs(server.port, { seed: 7, prompts: 8, inputLen: 300, outputLen: 3, name: 'basic' }),
      );
      assert.equal(result.code, 0, result.stderr);

      assert.equal(server.received.length, 8, 'no ready-check request unless asked, as the tool');
      for (const { body, headers, prompt } of server.received) {
        assert.equal(countTokens(prompt), 297, "the input length less the tokenizer's 3 special tokens");
        assert.equal(body['model'], 'org/test-model');
        assert.deepEqual(body['messages'][0].content[0].type, 'text');
        assert.equal(body['messages'][0].role, 'user');
        assert.equal(body['max_completion_tokens'], 3);
        assert.equal(body['stream'], true);
        assert.deepEqual(body['stream_options'], { include_usage: true });
        assert.equal(body['ignore_eos'], true);
        assert.equal('temperature' in body, false, 'the server decides unless --temperature is given');
        assert.match(String(headers['x-request-id']), /^bench-[0-9a-f]{8}-\d+$/);
      }
      assert.equal(new Set(server.received.map((r) => r.prompt)).size, 8);

      const json = await readResult('basic');
      assert.equal(json['completed'], 8);
      assert.equal(json['failed'], 0);
      assert.equal(json['num_prompts'], 8);
      assert.equal(json['total_input_tokens'], 8 * 300, "the server's usage.prompt_tokens, chat template included");
      assert.equal(json['total_output_tokens'], 8 * 3);
      assert.equal(json['backend'], 'openai-chat');
      assert.equal(json['endpoint_type'], 'openai-chat');
      assert.equal(json['model_id'], 'org/test-model');
      assert.equal(json['tokenizer_id'], 'org/test-model');
      assert.equal(json['request_rate'], 'inf');
      assert.equal(json['max_concurrency'], null);
      assert.match(json['date'], /^\d{8}-\d{6}$/);
      const duration = json['duration'] as number;
      assert.ok(duration > 0);
      const close = (actual: number, expected: number) =>
        assert.ok(Math.abs(actual - expected) <= 1e-9 * expected, `${actual} vs ${expected}`);
      close(json['request_throughput'], 8 / duration);
      close(json['output_throughput'], 24 / duration);
      close(json['total_token_throughput'], (2400 + 24) / duration);
      for (const key of [
        'mean_ttft_ms',
        'median_ttft_ms',
        'std_ttft_ms',
        'p99_ttft_ms',
        'mean_tpot_ms',
        'p99_tpot_ms',
        'mean_itl_ms',
        'median_itl_ms',
        'p99_itl_ms',
      ]) {
        assert.equal(typeof json[key], 'number', key);
        assert.ok(json[key] >= 0, key);
      }
      assert.equal(json['latencies'].length, 8);
      assert.equal(json['queue_times'].length, 8);
      for (const dropped of [
        'input_lens',
        'output_lens',
        'ttfts',
        'itls',
        'errors',
        'generated_texts',
        'mean_e2el_ms',
      ]) {
        assert.equal(dropped in json, false, `${dropped} is only written on request, as upstream`);
      }

      assert.match(result.stdout, /^=+ Serving Benchmark Result =+$/m);
      assert.match(result.stdout, /^Successful requests:\s+8\s*$/m);
      assert.match(result.stdout, /^Total input tokens:\s+2400\s*$/m);
      assert.match(result.stdout, /^P99 TTFT \(ms\):\s+[\d.]+\s*$/m);
      assert.match(result.stderr, /^progress: bench 8\/8$/m);
    });
  });

  it('derives the prompts from the seed alone', async () => {
    const prompts = async (seed: number, name: string) =>
      withServer({}, async (server) => {
        const result = await run(BENCH_SERVE, benchArgs(server.port, { seed, prompts: 4, inputLen: 50, name }));
        assert.equal(result.code, 0, result.stderr);
        return promptsByIndex(server.received);
      });
    const first = await prompts(11, 'seed-a');
    assert.deepEqual(await prompts(11, 'seed-b'), first);
    const other = await prompts(12, 'seed-c');
    assert.ok(other.every((prompt, i) => prompt !== first[i]));
  });

  it("counts each request as the server's usage, chat template included, as the tool does with a Qwen3-like tokenizer", async () => {
    // No special tokens to subtract: the prompts are the full input length, and the server's template adds 3.
    await withServer({ tokenizer: { frame: 0 } }, async (server) => {
      const args = [
        ...benchArgs(server.port, { prompts: 4, inputLen: 50, outputLen: 1, name: 'framed' }),
        '--save-detailed',
      ];
      const result = await run(BENCH_SERVE, args);
      assert.equal(result.code, 0, result.stderr);
      for (const { prompt } of server.received) assert.equal(countTokens(prompt), 50);
      const json = await readResult('framed');
      assert.deepEqual(json['input_lens'], [53, 53, 53, 53]);
      assert.equal(json['total_input_tokens'], 4 * (50 + 3));
    });
  });

  it('never exceeds --max-concurrency and records per-request data with --save-detailed', async () => {
    await withServer({ roleChunkDelayMs: 150, tokenizer: { frame: 3 } }, async (server) => {
      const args = [
        ...benchArgs(server.port, { prompts: 6, inputLen: 20, outputLen: 2, name: 'limited' }),
        '--max-concurrency',
        '2',
        '--save-detailed',
        '--percentile-metrics',
        'ttft,e2el',
      ];
      const result = await run(BENCH_SERVE, args);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(server.received.length, 6);
      assert.ok(server.maxInFlight <= 2, `max in flight ${server.maxInFlight}`);
      const json = await readResult('limited');
      assert.equal(json['max_concurrency'], 2);
      assert.deepEqual(json['input_lens'], [20, 20, 20, 20, 20, 20]);
      assert.deepEqual(json['output_lens'], [2, 2, 2, 2, 2, 2]);
      assert.deepEqual(json['errors'], ['', '', '', '', '', '']);
      // vllm's TTFT is the first chunk with choices (the role chunk), which the server holds back 150 ms.
      for (const ttft of json['ttfts'] as number[]) assert.ok(ttft >= 0.14, `ttft ${ttft}`);
      assert.ok(json['mean_e2el_ms'] >= 140);
      assert.equal('mean_tpot_ms' in json, false, 'only the selected percentile metrics are reported');
      assert.match(result.stdout, /^Maximum request concurrency:\s+2\s*$/m);
    });
  });

  it('counts failed requests apart from completed ones', async () => {
    const failOdd = (_arrival: number, request: Received) =>
      Number(/-(\d+)$/.exec(String(request.headers['x-request-id']))![1]) % 2 === 1 ? 500 : undefined;
    await withServer({ failWith: failOdd, tokenizer: { frame: 3 } }, async (server) => {
      const result = await run(BENCH_SERVE, [
        ...benchArgs(server.port, { prompts: 8, inputLen: 40, name: 'partial' }),
        '--save-detailed',
      ]);
      assert.equal(result.code, 0, result.stderr);
      const json = await readResult('partial');
      assert.equal(json['completed'], 4);
      assert.equal(json['failed'], 4);
      assert.equal(json['total_input_tokens'], 4 * 40);
      assert.equal(json['output_lens'].filter((n: number) => n === 0).length, 4);
      assert.equal(json['errors'].filter((e: string) => e !== '').length, 4);
      assert.match(result.stdout, /^Failed requests:\s+4\s*$/m);
      assert.match(result.stdout, /Failed requests during benchmark run detected/);
    });
  });

  it('exits non-zero when every request fails, still writing the result', async () => {
    await withServer({ failWith: () => 503 }, async (server) => {
      const result = await run(BENCH_SERVE, benchArgs(server.port, { prompts: 3, inputLen: 10, name: 'allfail' }));
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /all requests failed/);
      const json = await readResult('allfail');
      assert.equal(json['completed'], 0);
      assert.equal(json['failed'], 3);
      assert.equal(json['total_input_tokens'], 0);
    });
  });

  it('counts output tokens from the generated text when the server reports no usage', async () => {
    await withServer({ reportUsage: false }, async (server) => {
      const result = await run(
        BENCH_SERVE,
        benchArgs(server.port, { prompts: 2, inputLen: 30, outputLen: 4, name: 'nousage' }),
      );
      assert.equal(result.code, 0, result.stderr);
      const json = await readResult('nousage');
      assert.equal(json['total_input_tokens'], 60, 'the constructed lengths when the server reports no usage');
      assert.equal(json['total_output_tokens'], 8);
    });
  });

  it('aligns prompts to the server tokenizer only when it disagrees, and sends a ready check when asked', async () => {
    await withServer({ tokenizer: { frame: 0, extraPerWord: 1 } }, async (server) => {
      const args = [
        ...benchArgs(server.port, { prompts: 3, inputLen: 40, name: 'aligned' }),
        '--ready-check-timeout-sec',
        '5',
      ];
      const result = await run(BENCH_SERVE, args);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /tokenizer mismatch \(server=80, expected=40\), re-aligning prompts/);
      assert.ok(server.tokenizerCalls.includes('/detokenize'));
      assert.equal(server.received.length, 4, 'the ready check, then the 3 prompts');
      assert.equal(server.received[0].headers['x-request-id'], 'bench-ready-check');
      for (const { prompt } of server.received.slice(1))
        assert.equal(countTokens(prompt), 20, 'cut to 40 server tokens');
    });
    await withServer({}, async (server) => {
      const result = await run(BENCH_SERVE, benchArgs(server.port, { prompts: 2, inputLen: 40, name: 'unaligned' }));
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /\/tokenize unavailable \(404 Not Found\), skipping alignment/);
      for (const { prompt } of server.received) assert.equal(countTokens(prompt), 40);
    });
  });

  it('refuses arguments it does not implement, before sending anything', async () => {
    await withServer({}, async (server) => {
      const base = benchArgs(server.port, { name: 'refused' });
      const cases: Array<[string[], RegExp]> = [
        [base.map((a) => (a === 'random' ? 'sharegpt' : a)), /dataset-name sharegpt/],
        [base.map((a) => (a === 'openai-chat' ? 'openai' : a)), /backend openai/],
        [base.map((a) => (a === '/v1/chat/completions' ? '/v1/completions' : a)), /chat\/completions/],
        [[...base, '--burstiness', '2'], /unrecognized argument: '--burstiness'/],
        [base.map((a) => (a === '8' ? 'eight' : a)), /invalid int value: 'eight'/],
      ];
      for (const [args, message] of cases) {
        const result = await run(BENCH_SERVE, args);
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, message);
      }
      assert.equal(server.received.length, 0);
    });
  });
});

/** The suite's long_doc_qa.py argument list, at test scale. */
function docArgs(
  port: number,
  opts: { docs: number; length: number; mode: string; inflight: number; outputLen?: number; seed?: number },
) {
  return [
    '--port',
    String(port),
    '--model',
    'org/test-model',
    '--document-length',
    String(opts.length),
    '--num-documents',
    String(opts.docs),
    '--output-len',
    String(opts.outputLen ?? 2),
    '--repeat-count',
    '2',
    '--repeat-mode',
    opts.mode,
    '--shuffle-seed',
    String(opts.seed ?? 0),
    '--max-inflight-requests',
    String(opts.inflight),
    '--output',
    'output.txt',
    '--json-output',
  ];
}

function lastJsonLine(stdout: string): Record<string, number> {
  const lines = stdout.trimEnd().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, number>;
}

/** The document id of each request the server saw after the five pre-warm-up prompts. */
function documentOrder(received: readonly Received[]): number[] {
  return received.slice(5).map((r) => Number(tokenize(r.prompt)[0]));
}

describe('long-doc-qa driver', () => {
  it('sends pre-warm-up, warm-up and tiled query rounds in order and ends stdout with the JSON summary', async () => {
    await withServer({}, async (server) => {
      const cwd = await mkdtemp(join(tmp, 'ldqa-'));
      const result = await run(
        LONG_DOC_QA,
        docArgs(server.port, { docs: 4, length: 60, mode: 'tile', inflight: 1, outputLen: 3 }),
        cwd,
      );
      assert.equal(result.code, 0, result.stderr);

      assert.equal(server.received.length, 5 + 4 + 8);
      server.received.slice(0, 5).forEach((r, i) => {
        assert.ok(r.prompt.startsWith(`${i}xx`));
        assert.equal(countTokens(r.prompt), 1000);
      });
      for (const r of server.received.slice(5))
        assert.equal(countTokens(r.prompt), 61, 'document id + document-length');
      assert.deepEqual(documentOrder(server.received), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
      for (const { body, headers } of server.received) {
        assert.equal(typeof body['messages'][0].content, 'string');
        assert.equal(body['model'], 'org/test-model');
        assert.equal(body['max_tokens'], 3);
        assert.equal(body['temperature'], 0);
        assert.equal(body['stream'], true);
        assert.deepEqual(body['stream_options'], { include_usage: true });
        assert.equal(headers['authorization'], 'Bearer sk-dummy');
      }

      const summary = lastJsonLine(result.stdout);
      for (const key of ['query_ttft_per_prompt', 'query_round_time_per_prompt', 'warmup_round_time_per_prompt']) {
        assert.equal(typeof summary[key], 'number', key);
        assert.ok(summary[key]! > 0, key);
      }
      assert.match(result.stdout, /^Using base URL: http:\/\/127\.0\.0\.1:\d+\/v1$/m);
      assert.match(result.stdout, /Query round prompt count: 8/);
      assert.match(result.stdout, /Warmup round successful prompt count: 4/);
      assert.match(result.stderr, /^progress: prewarmup 5\/5$/m);
      assert.match(result.stderr, /^progress: warmup 4\/4$/m);
      assert.match(result.stderr, /^progress: query 8\/8$/m);

      const output = await readFile(join(cwd, 'output.txt'), 'utf8');
      assert.ok(output.indexOf('Repeat mode:  tile') < output.indexOf('------warm up round------'));
      assert.ok(output.indexOf('------warm up round------') < output.indexOf('------query round------'));
      assert.match(output, /--- Sending prompt 8\/8 ---/);
      assert.match(output, /Response of request 0: tok tok tok/);

      const warmupCsv = (await readFile(join(cwd, 'warmup_round.csv'), 'utf8')).trim().split('\n');
      assert.equal(warmupCsv[0], 'prompt_id,request_start,ttft,request_end,successful,ttft_time,is_miss');
      assert.equal(warmupCsv.length, 1 + 4);
      const queryCsv = (await readFile(join(cwd, 'query_round.csv'), 'utf8')).trim().split('\n');
      assert.equal(queryCsv[0], 'prompt_id,request_start,ttft,request_end,successful,is_miss,ttft_time');
      assert.equal(queryCsv.length, 1 + 8);
      assert.ok(queryCsv.slice(1).every((line) => line.split(',')[4] === 'True'));
    });
  });

  it('interleaves, and shuffles exactly as long_doc_qa.py does with the same seed', async () => {
    await withServer({}, async (server) => {
      const cwd = await mkdtemp(join(tmp, 'ldqa-'));
      const result = await run(
        LONG_DOC_QA,
        docArgs(server.port, { docs: 3, length: 5, mode: 'interleave', inflight: 1 }),
        cwd,
      );
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(documentOrder(server.received), [0, 1, 2, 0, 0, 1, 1, 2, 2]);
    });
    await withServer({}, async (server) => {
      const cwd = await mkdtemp(join(tmp, 'ldqa-'));
      const args = docArgs(server.port, { docs: 6, length: 5, mode: 'random', inflight: 1, seed: 3 });
      const result = await run(LONG_DOC_QA, args, cwd);
      assert.equal(result.code, 0, result.stderr);
      // CPython: random.seed(3); x = list(range(6)) * 2; random.shuffle(x)
      assert.deepEqual(documentOrder(server.received), [0, 1, 2, 3, 4, 5, 1, 1, 4, 0, 0, 5, 4, 5, 2, 2, 3, 3]);
    });
  });

  it('keeps at most --max-inflight-requests in flight and measures TTFT at the first content token', async () => {
    await withServer({ contentDelayMs: 120 }, async (server) => {
      const cwd = await mkdtemp(join(tmp, 'ldqa-'));
      const result = await run(
        LONG_DOC_QA,
        docArgs(server.port, { docs: 4, length: 10, mode: 'tile', inflight: 3 }),
        cwd,
      );
      assert.equal(result.code, 0, result.stderr);
      assert.ok(server.maxInFlight <= 3, `max in flight ${server.maxInFlight}`);
      assert.ok(server.maxInFlight >= 2, `requests did overlap (${server.maxInFlight})`);
      // The empty role chunk arrives at once; the first content waits 120 ms on the server.
      assert.ok(lastJsonLine(result.stdout)['query_ttft_per_prompt']! >= 0.11);
    });
  });

  it('resolves --model auto (the default) from /v1/models', async () => {
    await withServer({}, async (server) => {
      const cwd = await mkdtemp(join(tmp, 'ldqa-'));
      const args = docArgs(server.port, { docs: 1, length: 3, mode: 'tile', inflight: 2 }).filter(
        (a) => a !== '--model' && a !== 'org/test-model',
      );
      const result = await run(LONG_DOC_QA, args, cwd);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(server.modelListings, 1);
      assert.ok(server.received.every((r) => r.body['model'] === 'served-model'));
    });
  });

  it('fails without a JSON line when a request fails', async () => {
    await withServer({ failWith: (arrival) => (arrival === 5 + 3 + 2 ? 500 : undefined) }, async (server) => {
      const cwd = await mkdtemp(join(tmp, 'ldqa-'));
      const result = await run(
        LONG_DOC_QA,
        docArgs(server.port, { docs: 3, length: 5, mode: 'tile', inflight: 1 }),
        cwd,
      );
      assert.equal(result.code, 1);
      assert.match(result.stderr, /query request 2 failed: HTTP 500/);
      assert.equal(server.received.length, 5 + 3 + 3, 'nothing is sent after the failure');
      assert.doesNotMatch(result.stdout, /query_ttft_per_prompt/);
    });
  });

  it('reports NaN TTFT, as upstream does, when no request produced any content', async () => {
    await withServer({ noContent: true }, async (server) => {
      const cwd = await mkdtemp(join(tmp, 'ldqa-'));
      const result = await run(
        LONG_DOC_QA,
        docArgs(server.port, { docs: 2, length: 5, mode: 'tile', inflight: 2 }),
        cwd,
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Query round successful prompt count: 0/);
      const last = result.stdout.trimEnd().split('\n').pop()!;
      assert.match(
        last,
        /^\{"query_ttft_per_prompt": NaN, "query_round_time_per_prompt": [\d.e-]+, "warmup_round_time_per_prompt": [\d.e-]+\}$/,
      );
      const queryCsv = (await readFile(join(cwd, 'query_round.csv'), 'utf8')).trim().split('\n').slice(1);
      assert.ok(queryCsv.every((line) => line.split(',')[2] === '-1' && line.split(',')[4] === 'False'));
    });
  });

  it('refuses arguments it does not implement, before sending anything', async () => {
    await withServer({}, async (server) => {
      const base = docArgs(server.port, { docs: 2, length: 5, mode: 'tile', inflight: 1 });
      const cases: Array<[string[], RegExp]> = [
        [base.map((a) => (a === 'tile' ? 'zigzag' : a)), /invalid choice: 'zigzag'/],
        [[...base, '--completions'], /unrecognized argument: '--completions'/],
        [[...base, '--hit-miss-ratio', '3:1'], /unrecognized argument: '--hit-miss-ratio'/],
        [base.map((a) => (a === '1' ? '0' : a)), /max-inflight-requests: must be >= 1/],
      ];
      for (const [args, message] of cases) {
        const result = await run(LONG_DOC_QA, args, tmp);
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, message);
      }
      assert.equal(server.received.length, 0);
    });
  });
});
