import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseVllmArgs } from '../../src/sim/args.js';
import { UsageError } from '../../src/sim/usage-error.js';
import { BLOCK_TOKENS, DEFAULT_GPU_MEMORY_UTILIZATION } from '../../src/sim/cost-model.js';
import { parseDefect, parseGpuCacheTokens, parseStartupSeconds } from '../../src/sim/defects.js';
import { generate } from '../../src/sim/model.js';
import { ApiError, flattenChat, parseChatRequest, parseCompletionRequest } from '../../src/sim/openai-protocol.js';
import { BlockLru, blockKeys } from '../../src/sim/prefix-cache.js';
import { countTokens, tokenize } from '../../src/sim/tokens.js';

const GSM8K_STOPS = ['Question:', '</s>', '<|im_end|>'];
const free = (prompt: string, maxTokens = 500) =>
  generate(prompt, { maxTokens, stop: [], ignoreEos: false, variant: 0 });

describe('sim model', () => {
  it('answers a prompt the same way every time, and different prompts differently', () => {
    const a = free('Question: how many clips?\nAnswer:');
    assert.deepEqual(free('Question: how many clips?\nAnswer:'), a);
    assert.notEqual(free('Question: how many pens?\nAnswer:').text, a.text);
  });

  it('writes GSM8K-looking answers and ends on its own without ignore_eos', () => {
    for (let i = 0; i < 20; i++) {
      const g = free(`Question: problem ${i}\nAnswer:`);
      assert.match(g.text, /The answer is -?\d+\./);
      assert.equal(g.finishReason, 'stop');
      assert.equal(g.stopReason, null);
      assert.ok(g.generatedTokens < 500);
    }
  });

  it('counts one token per generated piece by the token rule', () => {
    const g = free('count me', 40);
    assert.equal(countTokens(g.text), g.generatedTokens);
    assert.equal(g.pieces.join(''), g.text);
  });

  it('honours max_tokens with finish_reason length, and ignore_eos generates exactly max_tokens', () => {
    const short = free('a long answer please', 3);
    assert.equal(short.finishReason, 'length');
    assert.equal(countTokens(short.text), 3);
    assert.ok(
      free('a long answer please').text.startsWith(short.text),
      'a shorter limit gives a prefix of the same text',
    );
    const forced = generate('a long answer please', { maxTokens: 300, stop: [], ignoreEos: true, variant: 0 });
    assert.equal(forced.generatedTokens, 300);
    assert.equal(countTokens(forced.text), 300);
    assert.equal(forced.finishReason, 'length');
  });

  it('sometimes runs on into text that the GSM8K stop strings cut, and stops before them', () => {
    let cut = 0;
    for (let i = 0; i < 40; i++) {
      const prompt = `Question: item ${i}\nAnswer:`;
      const unstopped = free(prompt);
      const stopped = generate(prompt, { maxTokens: 500, stop: GSM8K_STOPS, ignoreEos: false, variant: 0 });
      const hit = GSM8K_STOPS.map((s) => unstopped.text.indexOf(s)).filter((at) => at >= 0);
      if (hit.length === 0) {
        assert.equal(stopped.text, unstopped.text);
        continue;
      }
      cut++;
      assert.equal(stopped.text, unstopped.text.slice(0, Math.min(...hit)));
      assert.equal(stopped.finishReason, 'stop');
      assert.ok(GSM8K_STOPS.includes(stopped.stopReason!));
      assert.match(stopped.text, /The answer is -?\d+\./);
    }
    assert.ok(cut >= 5, `expected several of 40 answers to reach a stop string, got ${cut}`);
  });

  it('finds a stop string that spans two tokens', () => {
    const unstopped = free('spanning stop');
    const stopped = generate('spanning stop', { maxTokens: 500, stop: ['answer is'], ignoreEos: false, variant: 0 });
    assert.equal(stopped.text, unstopped.text.slice(0, unstopped.text.indexOf('answer is')));
    assert.equal(stopped.pieces.join(''), stopped.text);
    assert.equal(stopped.stopReason, 'answer is');
  });

  it('gives a different text for a non-zero variant (what corrupt-on-hit uses)', () => {
    assert.notEqual(generate('p', { maxTokens: 30, stop: [], ignoreEos: true, variant: 16 }).text, free('p', 30).text);
  });
});

describe('sim prefix cache', () => {
  const tokens = (first: string, n: number) => [first, ...Array.from({ length: n - 1 }, (_, i) => `t${i}`)];

  it('keys full blocks only, each covering the whole prefix', () => {
    assert.equal(blockKeys(tokens('a', BLOCK_TOKENS * 3 + 5)).length, 3);
    assert.equal(blockKeys(tokens('a', BLOCK_TOKENS - 1)).length, 0);
    const a = blockKeys(tokens('a', BLOCK_TOKENS * 3));
    const b = blockKeys(tokens('b', BLOCK_TOKENS * 3));
    // Same tokens after the first block, yet no key is shared: a key stands for its whole prefix.
    assert.equal(a.filter((key) => b.includes(key)).length, 0);
    assert.deepEqual(blockKeys(tokens('a', BLOCK_TOKENS * 2)), a.slice(0, 2));
  });

  it('evicts least recently used blocks, a prompt tail before its head', () => {
    const lru = new BlockLru(4);
    assert.deepEqual(lru.insert(['a1', 'a2', 'a3']), { added: 3, evicted: 0 });
    assert.deepEqual(lru.insert(['b1', 'b2']), { added: 2, evicted: 1 });
    assert.equal(lru.matchPrefix(['a1', 'a2', 'a3']), 2, 'the tail a3 went first');
    lru.insert(['c1', 'c2']);
    assert.equal(lru.matchPrefix(['b1', 'b2']), 0, 'b was least recently used after a was touched');
    assert.equal(lru.matchPrefix(['a1', 'a2']), 2);
    assert.equal(lru.size, 4);
    assert.equal(lru.evictedBlocks, 3);
  });
});

describe('sim command lines', () => {
  const reference = [
    'Qwen/Qwen3-14B',
    '--kv-transfer-config',
    '{"kv_connector":"LMCacheMPConnector","kv_role":"kv_both","kv_connector_extra_config":{"lmcache.mp.port":6555}}',
    '--attention-backend',
    'FLASH_ATTN',
    '--port',
    '8000',
    '--no-async-scheduling',
  ];

  it('takes the reference vllm serve argv, with and without LMCache', () => {
    assert.deepEqual(parseVllmArgs(reference), {
      model: 'Qwen/Qwen3-14B',
      host: '127.0.0.1',
      port: 8000,
      gpuMemoryUtilization: DEFAULT_GPU_MEMORY_UTILIZATION,
      attentionBackend: 'FLASH_ATTN',
      asyncScheduling: false,
      lmcachePort: 6555,
    });
    const baseline = parseVllmArgs(['Qwen/Qwen3-14B', '--port', '9000', '--gpu-memory-utilization', '0.5']);
    assert.equal(baseline.lmcachePort, null);
    assert.equal(baseline.gpuMemoryUtilization, 0.5);
  });

  it('refuses unknown flags, a missing model and connectors it does not simulate', () => {
    assert.throws(() => parseVllmArgs([...reference, '--tensor-parallel-size', '2']), UsageError);
    assert.throws(() => parseVllmArgs(['--port', '8000']), /exactly one MODEL/);
    assert.throws(
      () => parseVllmArgs(['m', '--kv-transfer-config', '{"kv_connector":"LMCacheConnectorV1"}']),
      /not simulated/,
    );
    assert.throws(() => parseVllmArgs(['m', '--kv-transfer-config', '{oops']), /not valid JSON/);
    assert.throws(() => parseVllmArgs(['m', '--gpu-memory-utilization', '1.5']), /gpu-memory-utilization/);
    assert.throws(() => parseVllmArgs(['m', '--port', 'http']), /--port/);
  });

  it('parses SIM_DEFECT, SIM_STARTUP_SECONDS and SIM_GPU_CACHE_TOKENS', () => {
    assert.deepEqual(parseDefect(undefined), { kind: 'none' });
    assert.deepEqual(parseDefect('crash-after:3'), { kind: 'crash-after', requests: 3 });
    assert.deepEqual(parseDefect('never-hit'), { kind: 'never-hit' });
    assert.deepEqual(parseDefect('never-retrieve'), { kind: 'never-retrieve' });
    assert.deepEqual(parseDefect('store-fails'), { kind: 'store-fails' });
    assert.equal(parseGpuCacheTokens(undefined), undefined);
    assert.equal(parseGpuCacheTokens('0'), undefined);
    assert.equal(parseGpuCacheTokens('4000'), 4000);
    assert.throws(() => parseGpuCacheTokens('4k'), /SIM_GPU_CACHE_TOKENS="4k" must be a number of tokens/);
    assert.throws(() => parseDefect('crash-after:0'), UsageError);
    assert.throws(() => parseDefect('flaky'), /allowed: none, corrupt-on-hit/);
    assert.equal(parseStartupSeconds('2.5'), 2.5);
    assert.throws(() => parseStartupSeconds('-1'), UsageError);
  });
});

describe('sim OpenAI requests', () => {
  it('flattens chat messages so that each costs its content plus 2 tokens, plus 1 for the reply', () => {
    const text = flattenChat([
      { role: 'system', content: 'be brief' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is' },
          { type: 'text', text: 'two plus two' },
        ],
      },
    ]);
    assert.equal(countTokens(text), 2 + 5 + 2 * 2 + 1);
    assert.ok(tokenize(text).includes('be'), 'markers never glue onto content words');
  });

  it('refuses requests vLLM would refuse, and a model it does not serve with 404', () => {
    const bad = (f: () => unknown, status: number) =>
      assert.throws(f, (error: unknown) => error instanceof ApiError && error.status === status);
    bad(() => parseCompletionRequest({ prompt: [1, 2, 3] }, 'm'), 400);
    bad(() => parseCompletionRequest({ prompt: 'x', max_tokens: 0 }, 'm'), 400);
    bad(() => parseCompletionRequest({ prompt: 'x', stop: 5 }, 'm'), 400);
    bad(() => parseCompletionRequest({ prompt: 'x', n: 2 }, 'm'), 400);
    bad(() => parseCompletionRequest({ prompt: 'x', stream_options: { include_usage: true } }, 'm'), 400);
    bad(() => parseCompletionRequest({ prompt: 'x', model: 'other' }, 'm'), 404);
    bad(() => parseChatRequest({ messages: [] }, 'm'), 400);
    bad(() => parseChatRequest({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, 'm'), 400);
  });

  it('reads max_completion_tokens before max_tokens, and a single stop string', () => {
    const job = parseChatRequest(
      { messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 7, max_tokens: 9, stop: 'Q:' },
      'm',
    );
    assert.equal(job.maxTokens, 7);
    assert.deepEqual(job.stop, ['Q:']);
  });
});
