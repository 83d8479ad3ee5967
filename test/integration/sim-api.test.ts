/** The vLLM-like server as the benchmark tools see it: the OpenAI API through the official client, and its CLI. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { PROJECT_ROOT } from '../helpers/temporal.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chatFrameTokens } from '../../src/activities/chat-frame.js';
import { vllmKvCache } from '../../src/metrics/vllm-cache-config.js';
import { CHAT_FRAME } from '../../src/sim/openai-protocol.js';
import { countTokens } from '../../src/sim/tokens.js';
import { VOCABULARY } from '../../src/sim/vocab.js';
import { writeTokenizer } from '../../src/sim/write-tokenizer.js';
import {
  MODEL,
  connectVllm,
  freePort,
  kvTransferConfig,
  launchVllm,
  runToExit,
  startLmcache,
  startVllm,
  stopAll,
  type VllmServer,
} from '../helpers/sim-servers.js';

const QUESTION = 'Question: Natalia sold clips to 48 of her friends in April. How many clips did she sell?\nAnswer:';
/** A completion prompt is its words: the sim tokenizer, like Qwen3's, has no special tokens to add. */
const QUESTION_TOKENS = countTokens(QUESTION);

describe('sim vLLM server API', () => {
  let baseline: VllmServer;
  let withLmcache: VllmServer;

  before(async () => {
    const lmcache = await startLmcache();
    [baseline, withLmcache] = await Promise.all([startVllm(), startVllm({ lmcachePort: lmcache.port })]);
  });
  after(stopAll);

  it('lists the served model, named as given on the command line', async () => {
    const models = await baseline.openai.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      [MODEL],
    );
  });

  it("exports its GPU cache as vLLM does (vllm:cache_config_info on /metrics): --gpu-memory-utilization's, or SIM_GPU_CACHE_TOKENS", async () => {
    const exposition = async (server: VllmServer) => {
      const response = await fetch(`${server.url}/metrics`);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return response.text();
    };
    assert.match(
      await exposition(baseline),
      /^vllm:cache_config_info\{block_size="16",.*num_gpu_blocks="1125"\} 1\.0$/m,
    );
    assert.deepEqual(vllmKvCache(await exposition(withLmcache)), { numGpuBlocks: 1125, blockSize: 16 });
    const [half, small] = await Promise.all([
      startVllm({ gpuMemoryUtilization: 0.5 }),
      startVllm({ env: { SIM_GPU_CACHE_TOKENS: '4000' } }),
    ]);
    assert.deepEqual(vllmKvCache(await exposition(half)), { numGpuBlocks: 625, blockSize: 16 });
    assert.deepEqual(vllmKvCache(await exposition(small)), { numGpuBlocks: 250, blockSize: 16 });
    assert.equal((await small.stats()).gpuCache.capacityTokens, 4000);
    assert.match(small.proc.output, /GPU prefix cache 4000 tokens \(SIM_GPU_CACHE_TOKENS=4000\)/);
  });

  it('answers completions with usage counted by the token rule', async () => {
    const completion = await baseline.openai.completions.create({
      model: MODEL,
      prompt: QUESTION,
      max_tokens: 200,
      temperature: 0,
    });
    const [choice] = completion.choices;
    assert.equal(completion.object, 'text_completion');
    assert.match(choice.text, /The answer is -?\d+\./);
    assert.equal(choice.finish_reason, 'stop');
    assert.deepEqual(
      { prompt: completion.usage!.prompt_tokens, completion: completion.usage!.completion_tokens },
      { prompt: QUESTION_TOKENS, completion: countTokens(choice.text) },
    );
    assert.equal(completion.usage!.total_tokens, completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
  });

  it('gives the same text for the same request, across server instances and streaming or not', async () => {
    const request = { model: MODEL, prompt: QUESTION, max_tokens: 12, temperature: 0, seed: 0 };
    const a = await baseline.openai.completions.create(request);
    const b = await withLmcache.openai.completions.create(request);
    const c = await baseline.openai.completions.create({ ...request, temperature: 0.7, seed: 1234 });
    let streamed = '';
    for await (const chunk of await withLmcache.openai.completions.create({ ...request, stream: true })) {
      streamed += chunk.choices[0]?.text ?? '';
    }
    assert.equal(b.choices[0].text, a.choices[0].text);
    assert.equal(c.choices[0].text, a.choices[0].text, 'the model is greedy whatever the temperature');
    assert.equal(streamed, a.choices[0].text);
  });

  it('streams completions token by token, with a final usage chunk when asked', async () => {
    const stream = await baseline.openai.completions.create({
      model: MODEL,
      prompt: QUESTION,
      max_tokens: 6,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const usageChunk = chunks.at(-1)!;
    assert.deepEqual(usageChunk.choices, []);
    assert.deepEqual(
      { prompt: usageChunk.usage!.prompt_tokens, completion: usageChunk.usage!.completion_tokens },
      { prompt: QUESTION_TOKENS, completion: 6 },
    );
    const textChunks = chunks.filter((c) => c.choices[0]?.text);
    assert.equal(textChunks.length, 6, 'one chunk per token');
    assert.equal(chunks.at(-2)!.choices[0].finish_reason, 'length');
  });

  it('answers chat completions, streaming and not, counting the chat template in prompt tokens', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are a helpful assistant.' },
      { role: 'user' as const, content: 'What is two plus two?' },
    ];
    const templateTokens = 2 * messages.length + 1;
    const reply = await withLmcache.openai.chat.completions.create({
      model: MODEL,
      messages,
      max_completion_tokens: 8,
    });
    assert.equal(reply.object, 'chat.completion');
    assert.equal(reply.choices[0].message.role, 'assistant');
    assert.equal(
      reply.usage!.prompt_tokens,
      countTokens('You are a helpful assistant. What is two plus two?') + templateTokens,
    );
    assert.equal(reply.usage!.completion_tokens, 8);

    const stream = await withLmcache.openai.chat.completions.create({
      model: MODEL,
      messages,
      max_completion_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = '';
    let role: string | undefined;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      role ??= chunk.choices[0]?.delta.role;
      content += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    assert.equal(role, 'assistant');
    assert.equal(content, reply.choices[0].message.content);
    assert.equal(finish, 'length');
    assert.equal(usage!.completion_tokens, 8);
  });

  it('stops before a stop string, and generates exactly max_tokens with ignore_eos', async () => {
    const free = await baseline.openai.completions.create({ model: MODEL, prompt: QUESTION, max_tokens: 200 });
    const stopped = await baseline.openai.completions.create({
      model: MODEL,
      prompt: QUESTION,
      max_tokens: 200,
      stop: ['answer', 'never there'],
    });
    assert.equal(stopped.choices[0].finish_reason, 'stop');
    assert.equal(stopped.choices[0].text, free.choices[0].text.slice(0, free.choices[0].text.indexOf('answer')));

    const forced = await baseline.openai.completions.create({
      model: MODEL,
      prompt: QUESTION,
      max_tokens: free.usage!.completion_tokens + 10,
      ignore_eos: true,
    } as OpenAI.CompletionCreateParamsNonStreaming);
    assert.equal(
      forced.usage!.completion_tokens,
      free.usage!.completion_tokens + 10,
      'ignore_eos runs past the end of sequence',
    );
    assert.equal(forced.choices[0].finish_reason, 'length');
  });

  it('answers an array of prompts (lm_eval batching) with one indexed choice each', async () => {
    const prompts = [QUESTION, 'Question: another one?\nAnswer:', 'Question: a third?\nAnswer:'];
    const batch = await withLmcache.openai.completions.create({ model: MODEL, prompt: prompts, max_tokens: 5 });
    assert.deepEqual(
      batch.choices.map((c) => c.index),
      [0, 1, 2],
    );
    const single = await withLmcache.openai.completions.create({ model: MODEL, prompt: prompts[1], max_tokens: 5 });
    assert.equal(batch.choices[1].text, single.choices[0].text);
    assert.equal(
      batch.usage!.prompt_tokens,
      prompts.reduce((sum, p) => sum + countTokens(p), 0),
    );
    assert.equal(batch.usage!.completion_tokens, 15);
  });

  /** POSTs JSON to a route outside the OpenAI client (vLLM's own routes). */
  async function post(server: VllmServer, path: string, body: unknown) {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** The parsed `data:` events of a raw SSE response, `[DONE]` last. */
  async function rawStream(server: VllmServer, path: string, body: unknown): Promise<Array<Record<string, any>>> {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const events = (await response.text()).split('\n\n').filter((event) => event.startsWith('data: '));
    assert.equal(events.at(-1), 'data: [DONE]');
    return events.slice(0, -1).map((event) => JSON.parse(event.slice(6)));
  }

  it('tokenizes as vLLM does: count, max_model_len and ids consistent with usage, and round-trips ids and text', async () => {
    const plain = await post(baseline, '/tokenize', { model: MODEL, prompt: QUESTION, add_special_tokens: false });
    assert.equal(plain.status, 200);
    assert.equal(plain.body.count, countTokens(QUESTION));
    assert.equal((plain.body.tokens as number[]).length, plain.body.count);
    assert.equal(plain.body.max_model_len, 40960);
    assert.equal(plain.body.token_strs, null);

    const special = await post(baseline, '/tokenize', { prompt: QUESTION, return_token_strs: true });
    const completion = await baseline.openai.completions.create({ model: MODEL, prompt: QUESTION, max_tokens: 1 });
    assert.equal(special.body.count, completion.usage!.prompt_tokens, 'the same count as the completion usage');
    assert.deepEqual(special.body.tokens, plain.body.tokens, 'no special tokens to add');
    assert.deepEqual((special.body.token_strs as string[]).slice(0, 1), ['Question:']);

    const messages = [{ role: 'user', content: 'What is two plus two?' }];
    const chat = await post(baseline, '/tokenize', { model: MODEL, messages });
    const reply = await baseline.openai.chat.completions.create({
      model: MODEL,
      messages: messages as never,
      max_tokens: 1,
    });
    assert.equal(chat.body.count, reply.usage!.prompt_tokens, 'the same count as the chat usage');

    const unusual = 'zq-unseen-word ok 42 zq-unseen-word';
    const ids = (await post(baseline, '/tokenize', { prompt: unusual, add_special_tokens: false })).body
      .tokens as number[];
    assert.equal(ids[0], ids[3], 'one word, one id');
    const text = await post(baseline, '/detokenize', { model: MODEL, tokens: ids });
    assert.equal(text.body.prompt, unusual);
    assert.deepEqual(
      (await post(baseline, '/tokenize', { prompt: text.body.prompt, add_special_tokens: false })).body.tokens,
      ids,
    );

    assert.equal((await post(baseline, '/detokenize', { tokens: [10_000_000] })).status, 400);
    assert.equal((await post(baseline, '/tokenize', { model: 'other/model', prompt: 'x' })).status, 404);
    const version = (await (await fetch(`${baseline.url}/version`)).json()) as { version: string };
    assert.equal(typeof version.version, 'string');
  });

  it('counts chats and prompts as its tokenizer files do, loaded by transformers: the chat frame comes from the template', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'sim-tokenizer-'));
    try {
      writeTokenizer(directory);
      // Words of the fixed vocabulary, so that ids compare too (transformers maps other words to <unk>).
      const words = (from: number, count: number) => VOCABULARY.slice(from, from + count).join(' ');
      const chats = [
        [{ role: 'user', content: words(100, 40) }],
        [
          { role: 'system', content: words(200, 7) },
          {
            role: 'user',
            content: [
              { type: 'text', text: words(300, 5) },
              { type: 'text', text: words(400, 3) },
            ],
          },
        ],
      ];
      const prompts = [words(100, 40)];
      const result = await execa(
        `${PROJECT_ROOT}.venv/bin/python`,
        [fileURLToPath(new URL('../../../test/fixtures/python/tokenizer_counts.py', import.meta.url)), directory],
        { input: JSON.stringify({ chats, prompts }), env: { HF_HUB_OFFLINE: '1' }, reject: false },
      );
      assert.equal(result.exitCode, 0, result.stderr);
      const hf = JSON.parse(result.stdout) as {
        num_special_tokens_to_add: number;
        chats: number[][];
        prompts: number[][];
      };
      assert.equal(hf.num_special_tokens_to_add, 0, 'as Qwen3: the frame is the template, not a post-processor');

      for (const [i, messages] of chats.entries()) {
        const tokenized = await post(baseline, '/tokenize', { model: MODEL, messages });
        assert.deepEqual(tokenized.body.tokens, hf.chats[i], `chat ${i}: /tokenize`);
        const reply = await baseline.openai.chat.completions.create({
          model: MODEL,
          messages: messages as never,
          max_completion_tokens: 1,
        });
        assert.equal(reply.usage!.prompt_tokens, hf.chats[i].length, `chat ${i}: usage.prompt_tokens`);
      }
      assert.deepEqual(
        (await post(baseline, '/tokenize', { model: MODEL, prompt: prompts[0] })).body.tokens,
        hf.prompts[0],
      );
      const completion = await baseline.openai.completions.create({ model: MODEL, prompt: prompts[0], max_tokens: 1 });
      assert.equal(completion.usage!.prompt_tokens, hf.prompts[0].length);

      const frame = hf.chats[0].length - hf.prompts[0].length;
      assert.equal(frame, CHAT_FRAME.length);
      assert.equal(await chatFrameTokens(baseline.port, MODEL), frame, "the vllm_bench stage's probe measures it");
      assert.equal(await chatFrameTokens(withLmcache.port, MODEL), frame);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('streams chunks shaped as vLLM streams them: the last token carries finish_reason, usage comes last', async () => {
    const chat = await rawStream(baseline, '/v1/chat/completions', {
      model: MODEL,
      messages: [{ role: 'user', content: QUESTION }],
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.deepEqual(chat[0].choices[0].delta, { role: 'assistant', content: '' });
    const tokenChunks = chat.slice(1, -1);
    assert.equal(tokenChunks.length, 5, 'one chunk per token, no empty-delta chunk');
    for (const chunk of tokenChunks) assert.equal(typeof chunk.choices[0].delta.content, 'string');
    assert.deepEqual(
      tokenChunks.map((chunk) => chunk.choices[0].finish_reason),
      [null, null, null, null, 'length'],
    );
    assert.deepEqual(chat.at(-1)!.choices, []);
    assert.equal(chat.at(-1)!.usage.completion_tokens, 5);

    const stopped = await rawStream(baseline, '/v1/completions', {
      model: MODEL,
      prompt: QUESTION,
      max_tokens: 200,
      stream: true,
    });
    assert.equal(stopped.at(-1)!.choices[0].finish_reason, 'stop');
    assert.ok(stopped.every((chunk) => typeof chunk.choices[0].text === 'string'));
    assert.ok(
      stopped.slice(0, -1).every((chunk) => chunk.choices[0].text !== '' && chunk.choices[0].finish_reason === null),
    );
  });

  it('reads every stream with the official openai Python client, as long_doc_qa.py calls it', async () => {
    const script = fileURLToPath(new URL('../../../test/fixtures/python/read_streams.py', import.meta.url));
    const result = await execa(`${PROJECT_ROOT}.venv/bin/python`, [script, withLmcache.url, MODEL], { reject: false });
    assert.equal(result.exitCode, 0, result.stderr);
    const reads = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(reads.length, 4);
    for (const read of reads) {
      assert.ok(read.text.length > 0, JSON.stringify(read));
      assert.ok(['stop', 'length'].includes(read.finish_reason), JSON.stringify(read));
      assert.ok(read.usage.completion_tokens > 0 && read.usage.prompt_tokens > 0, JSON.stringify(read));
    }
    assert.equal(reads[0].first_content_chunk, 1, 'the role chunk first, then content');
  });

  it('refuses bad requests with OpenAI-style errors, and unknown paths with 404', async () => {
    await assert.rejects(
      baseline.openai.completions.create({ model: MODEL, prompt: QUESTION, max_tokens: -1 }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && /max_tokens/.test(error.message),
    );
    await assert.rejects(
      baseline.openai.completions.create({ model: 'other/model', prompt: QUESTION }),
      (error: unknown) => error instanceof OpenAI.NotFoundError,
    );
    await assert.rejects(
      baseline.openai.completions.create({ model: MODEL, prompt: 'x', max_tokens: 50_000 }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && /maximum context length/.test(error.message),
    );
    const notJson = await fetch(`${baseline.url}/v1/completions`, { method: 'POST', body: '{not json' });
    assert.equal(notJson.status, 400);
    assert.equal(typeof ((await notJson.json()) as { error: { message: string } }).error.message, 'string');
    assert.equal((await fetch(`${baseline.url}/v1/embeddings`, { method: 'POST', body: '{}' })).status, 404);
    assert.equal((await fetch(`${baseline.url}/v1/completions`)).status, 405);
    assert.ok((await baseline.stats()).requests.failed >= 4);
  });
});

describe('sim vLLM server command line', () => {
  after(stopAll);

  it('refuses an unknown flag with exit code 2 and says which', async () => {
    const { code, output } = await runToExit([MODEL, '--port', '0', '--enable-chunked-prefill']);
    assert.equal(code, 2);
    assert.match(output, /enable-chunked-prefill/);
    assert.match(output, /usage: vllm-server\.js MODEL/);
  });

  it('refuses an unknown SIM_DEFECT with exit code 2', async () => {
    const vllmArgv = [MODEL, '--kv-transfer-config', kvTransferConfig(6555), '--port', '0'];
    const vllm = await runToExit(vllmArgv, { SIM_DEFECT: 'explode' });
    assert.equal(vllm.code, 2);
    assert.match(vllm.output, /SIM_DEFECT="explode" is not a known defect/);
  });

  it('refuses /health until SIM_STARTUP_SECONDS have passed, then answers 200', async () => {
    const port = await freePort();
    const proc = launchVllm({ port, env: { SIM_STARTUP_SECONDS: '1.5' } });
    await proc.waitFor(/loading model/);
    // Nothing listens while the model "loads", so a probe gets "connection refused" as with real vLLM.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
    const started = await connectVllm(proc);
    const loading = Date.parse(started.proc.output.match(/^(\S+) INFO \[sim-vllm\] loading model/m)![1]);
    const listening = Date.parse(started.proc.output.match(/^(\S+) INFO \[sim-vllm\] Uvicorn running/m)![1]);
    assert.ok(listening - loading >= 1450, `listened ${listening - loading} ms after the loading line`);
    assert.equal((await fetch(`${started.url}/health`)).status, 200);
  });

  it('logs one line per request and exits 0 on SIGTERM', async () => {
    const server = await startVllm();
    await server.openai.completions.create({ model: MODEL, prompt: QUESTION, max_tokens: 3 });
    assert.match(server.proc.output, /Application startup complete\./);
    assert.match(
      server.proc.output,
      /cmpl-\w+: prompt \d+ tokens \(cached: GPU 0, LMCache 0; prefilled \d+\), output 3 tokens/,
    );
    assert.deepEqual(await server.proc.stop(), { code: 0, signal: null });
  });
});
