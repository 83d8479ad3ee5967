/**
 * The caches as the long-document benchmark relies on them: the GPU prefix cache is finite and LRU, the
 * LMCache-enabled server falls back to the LMCache server for what the GPU cache lost, and the baseline
 * cannot. Checked through the counters the servers expose, not through timing.
 */
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import { after, before, describe, it } from 'node:test';
import { BLOCK_TOKENS, LMCACHE_TOKENS_PER_GB, gpuCacheTokens } from '../../src/sim/cost-model.js';
import { blockKeys } from '../../src/sim/prefix-cache.js';
import { tokenize } from '../../src/sim/tokens.js';
import {
  MODEL,
  freePort,
  longPrompt,
  startLmcache,
  startVllm,
  stopAll,
  type LmcacheServer,
  type VllmServer,
} from './sim-harness.js';

/** 62 blocks (992 tokens) of GPU cache: two 410-token prompts fit, three do not. */
const SMALL_GPU = 0.05;
const PROMPT_TOKENS = 410;
const FULL_BLOCK_TOKENS = Math.floor(PROMPT_TOKENS / BLOCK_TOKENS) * BLOCK_TOKENS;

async function complete(server: VllmServer, prompt: string) {
  const before = await server.stats();
  // Unframed (no special tokens), so the prompt is exactly PROMPT_TOKENS tokens.
  const body = { model: MODEL, prompt, max_tokens: 2, add_special_tokens: false };
  const reply = await server.openai.completions.create(body as OpenAI.CompletionCreateParamsNonStreaming);
  await server.storesSettled();
  const after = await server.stats();
  return {
    text: reply.choices[0].text,
    cached: reply.usage!.prompt_tokens_details!.cached_tokens!,
    gpu: after.gpuHitTokens - before.gpuHitTokens,
    lmcache: after.lmcacheHitTokens - before.lmcacheHitTokens,
    prefill: after.prefillTokens - before.prefillTokens,
  };
}

describe('sim caches', () => {
  let lmcache: LmcacheServer;
  let baseline: VllmServer;
  let withLmcache: VllmServer;

  before(async () => {
    lmcache = await startLmcache();
    [baseline, withLmcache] = await Promise.all([
      startVllm({ gpuMemoryUtilization: SMALL_GPU }),
      startVllm({ gpuMemoryUtilization: SMALL_GPU, lmcachePort: lmcache.port }),
    ]);
  });
  after(stopAll);

  it('sizes the GPU cache from --gpu-memory-utilization', async () => {
    const expected = Math.floor(gpuCacheTokens(SMALL_GPU) / BLOCK_TOKENS) * BLOCK_TOKENS;
    assert.equal((await baseline.stats()).gpuCache.capacityTokens, expected);
  });

  it('serves a repeated long prompt from the GPU cache, prefilling only the partial last block', async () => {
    const prompt = longPrompt('repeat', PROMPT_TOKENS);
    const first = await complete(baseline, prompt);
    const second = await complete(baseline, prompt);
    assert.deepEqual({ gpu: first.gpu, prefill: first.prefill }, { gpu: 0, prefill: PROMPT_TOKENS });
    assert.deepEqual(
      { cached: second.cached, gpu: second.gpu, lmcache: second.lmcache, prefill: second.prefill },
      { cached: FULL_BLOCK_TOKENS, gpu: FULL_BLOCK_TOKENS, lmcache: 0, prefill: PROMPT_TOKENS - FULL_BLOCK_TOKENS },
    );
    assert.equal(second.text, first.text, 'a cache hit does not change the output');
  });

  it('forgets its GPU prefix cache on POST /reset_prefix_cache, as vLLM does', async () => {
    const prompt = longPrompt('reset', PROMPT_TOKENS);
    await complete(baseline, prompt);
    const response = await fetch(`${baseline.url}/reset_prefix_cache`, { method: 'POST' });
    assert.equal(response.status, 200);
    const again = await complete(baseline, prompt);
    assert.deepEqual({ gpu: again.gpu, prefill: again.prefill }, { gpu: 0, prefill: PROMPT_TOKENS });
    assert.ok((await baseline.stats()).gpuCache.resets >= 1);
  });

  it('after the GPU cache overflows, the baseline re-prefills while the LMCache server supplies the prompt', async () => {
    const prompts = ['alpha', 'bravo', 'charlie', 'delta'].map((name) => longPrompt(name, PROMPT_TOKENS));
    const firstTexts: string[] = [];
    for (const prompt of prompts) {
      firstTexts.push((await complete(baseline, prompt)).text);
      await complete(withLmcache, prompt);
    }
    assert.ok((await baseline.stats()).gpuCache.evictedTokens >= 2 * FULL_BLOCK_TOKENS);

    const again = await complete(baseline, prompts[0]);
    const fromLmcache = await complete(withLmcache, prompts[0]);
    assert.deepEqual(
      { gpu: again.gpu, lmcache: again.lmcache, prefill: again.prefill },
      { gpu: 0, lmcache: 0, prefill: PROMPT_TOKENS },
    );
    assert.deepEqual(
      { gpu: fromLmcache.gpu, lmcache: fromLmcache.lmcache, prefill: fromLmcache.prefill, cached: fromLmcache.cached },
      { gpu: 0, lmcache: FULL_BLOCK_TOKENS, prefill: PROMPT_TOKENS - FULL_BLOCK_TOKENS, cached: FULL_BLOCK_TOKENS },
    );
    assert.equal(again.text, firstTexts[0]);
    assert.equal(fromLmcache.text, firstTexts[0], 'KV loaded from LMCache gives the same output');
  });

  it('uses the GPU cache first and asks the LMCache server only for the blocks after it', async () => {
    const prompts = ['echo', 'foxtrot', 'golf'].map((name) => longPrompt(name, PROMPT_TOKENS));
    for (const prompt of prompts) await complete(withLmcache, prompt);
    // 75 blocks went into 62: everything older went first, then the tail of "echo" (its 13 last blocks).
    const lookupsBefore = (await lmcache.stats()).lookups;
    const again = await complete(withLmcache, prompts[0]);
    assert.deepEqual(
      { gpu: again.gpu, lmcache: again.lmcache },
      { gpu: 12 * BLOCK_TOKENS, lmcache: 13 * BLOCK_TOKENS },
    );
    assert.equal((await lmcache.stats()).lookups, lookupsBefore + 1);
    assert.match(withLmcache.proc.output, /prompt 410 tokens \(cached: GPU 192, LMCache 208; prefilled 10\)/);
    assert.match(lmcache.proc.output, /lookup: 13 blocks asked, 13 hit \(208 tokens\)/);
  });

  it('keeps the baseline away from the LMCache server', async () => {
    const before = await lmcache.stats();
    await complete(baseline, longPrompt('hotel', PROMPT_TOKENS));
    const after = await lmcache.stats();
    assert.equal((await baseline.stats()).lmcache, null);
    assert.deepEqual(
      { lookups: after.lookups, stores: after.storeRequests },
      { lookups: before.lookups, stores: before.storeRequests },
    );
    // The LMCache-enabled server's connection and this test's: the baseline never connected.
    assert.equal(after.connections, 2);
  });

  it('keeps two LMCache servers on different ports apart', async () => {
    const other = await startLmcache();
    const otherVllm = await startVllm({ gpuMemoryUtilization: SMALL_GPU, lmcachePort: other.port });
    const prompt = longPrompt('alpha', PROMPT_TOKENS); // stored in the first LMCache server above
    const reply = await complete(otherVllm, prompt);
    assert.equal(reply.lmcache, 0);
    assert.equal(
      (await other.stats()).storedTokens,
      FULL_BLOCK_TOKENS,
      'the second store holds only what its own server stored',
    );
    const keys = blockKeys(tokenize(prompt));
    assert.equal(
      await lmcache.client.lookup(keys),
      keys.length,
      'the first store still has the prompt the second lacked',
    );
  });
});

describe('sim LMCache connector without a server', () => {
  after(stopAll);

  it('serves requests as misses when nothing listens on the LMCache port, and says so', async () => {
    const server = await startVllm({ lmcachePort: await freePort() });
    const reply = await complete(server, longPrompt('orphan', PROMPT_TOKENS));
    assert.equal(reply.prefill, PROMPT_TOKENS);
    const stats = await server.stats();
    assert.equal(stats.lmcache!.lookupErrors, 1);
    assert.equal(stats.lmcache!.storeErrors, 1);
    assert.match(server.proc.output, /WARNING .*LMCache lookup failed, prefilling instead/);
  });
});

describe('sim LMCache store', () => {
  after(stopAll);

  it('sizes itself from --l1-size-gb and evicts the least recently used blocks when full', async () => {
    const capacityBlocks = 64;
    const server = await startLmcache({ l1SizeGb: (capacityBlocks * BLOCK_TOKENS) / LMCACHE_TOKENS_PER_GB });
    const chain = (name: string) => Array.from({ length: 30 }, (_, i) => `${name}-${i}`);
    const [x, y, z] = [chain('x'), chain('y'), chain('z')];
    assert.equal((await server.stats()).capacityTokens, capacityBlocks * BLOCK_TOKENS);

    assert.deepEqual(await server.client.store(x), { stored: 30, evicted: 0 });
    assert.deepEqual(await server.client.store(y), { stored: 30, evicted: 0 });
    assert.equal(await server.client.lookup(x), 30); // x is now more recent than y
    assert.deepEqual(await server.client.store(z), { stored: 30, evicted: 26 });

    assert.equal(await server.client.lookup(x), 30);
    assert.equal(await server.client.lookup(z), 30);
    assert.equal(await server.client.lookup(y), 4, 'y lost its 26 last blocks and kept its head');
    const stats = await server.stats();
    assert.deepEqual(
      { used: stats.usedTokens, evicted: stats.evictedTokens },
      { used: capacityBlocks * BLOCK_TOKENS, evicted: 26 * BLOCK_TOKENS },
    );
    assert.match(server.proc.output, /store: 30 new blocks \(480 tokens\), 26 evicted \(LRU\)/);
  });

  it('holds at least 30 documents of 2000 tokens at the sim profile default of 1 GB', async () => {
    const server = await startLmcache({ l1SizeGb: 1 });
    assert.ok((await server.stats()).capacityTokens >= 30 * 2000);
  });
});
