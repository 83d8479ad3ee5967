/**
 * The caches as the long-document benchmark relies on them: the GPU prefix cache is finite and LRU, the
 * LMCache-enabled server retrieves from the real LMCache server what the GPU cache lost (KV checked byte for byte),
 * and the baseline cannot. Checked through the sim's counters and LMCache's own, not through timing.
 */
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import { after, before, describe, it } from 'node:test';
import { BLOCK_TOKENS, gpuCacheTokens } from '../../src/sim/cost-model.js';
import type { TestLmcacheServer } from '../helpers/lmcache-server.js';
import {
  MODEL,
  freePort,
  longPrompt,
  startLmcache,
  startVllm,
  stopAll,
  type VllmServer,
} from '../helpers/sim-servers.js';

/** 62 blocks (992 tokens) of GPU cache: one 600-token prompt (37 full blocks) fits, two do not. */
const SMALL_GPU = 0.05;
const PROMPT_TOKENS = 600;
const FULL_BLOCK_TOKENS = Math.floor(PROMPT_TOKENS / BLOCK_TOKENS) * BLOCK_TOKENS;
/** LMCache's default chunk: it stores whole chunks only, two of a 600-token prompt. */
const CHUNK_TOKENS = 256;
const CHUNKED_TOKENS = Math.floor(PROMPT_TOKENS / CHUNK_TOKENS) * CHUNK_TOKENS;

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
    retrieves: after.lmcache ? after.lmcache.retrieves - before.lmcache!.retrieves : 0,
  };
}

/** LMCache's counters that move with a request, as its Prometheus endpoint gives them. */
async function lmcacheCounters(server: TestLmcacheServer) {
  const metrics = await server.metrics();
  return {
    hitTokens: metrics.get('lmcache_mp_lookup_hit_tokens_total') ?? 0,
    stores: metrics.get('lmcache_mp_num_finished_stores_total') ?? 0,
    retrieves: metrics.get('lmcache_mp_num_finished_retrieves_total') ?? 0,
  };
}

describe('sim caches with the real LMCache server', { timeout: 300_000 }, () => {
  let lmcache: TestLmcacheServer;
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

  it('after the GPU cache overflows, the baseline re-prefills while LMCache supplies the whole chunks', async () => {
    const prompts = ['alpha', 'bravo', 'charlie'].map((name) => longPrompt(name, PROMPT_TOKENS));
    const firstTexts: string[] = [];
    for (const prompt of prompts) {
      firstTexts.push((await complete(baseline, prompt)).text);
      await complete(withLmcache, prompt);
    }
    assert.ok((await baseline.stats()).gpuCache.evictedTokens >= 2 * FULL_BLOCK_TOKENS);

    const countersBefore = await lmcacheCounters(lmcache);
    const again = await complete(baseline, prompts[0]);
    const fromLmcache = await complete(withLmcache, prompts[0]);
    const countersAfter = await lmcacheCounters(lmcache);
    assert.deepEqual(
      { gpu: again.gpu, lmcache: again.lmcache, prefill: again.prefill },
      { gpu: 0, lmcache: 0, prefill: PROMPT_TOKENS },
    );
    assert.deepEqual(
      {
        gpu: fromLmcache.gpu,
        lmcache: fromLmcache.lmcache,
        cached: fromLmcache.cached,
        retrieves: fromLmcache.retrieves,
      },
      { gpu: 0, lmcache: CHUNKED_TOKENS, cached: CHUNKED_TOKENS, retrieves: 1 },
    );
    assert.equal(fromLmcache.prefill, PROMPT_TOKENS - CHUNKED_TOKENS);
    assert.equal((await withLmcache.stats()).lmcache!.mismatchedBlocks, 0, 'the KV came back byte for byte');
    assert.equal(again.text, firstTexts[0]);
    assert.equal(fromLmcache.text, firstTexts[0], 'KV loaded from LMCache gives the same output');
    assert.equal(countersAfter.hitTokens - countersBefore.hitTokens, CHUNKED_TOKENS, "LMCache's own hit count");
    assert.equal(countersAfter.retrieves - countersBefore.retrieves, 1);
  });

  it('uses the GPU cache first: no retrieve when the GPU already holds what LMCache has', async () => {
    const prompt = longPrompt('echo', PROMPT_TOKENS);
    await complete(withLmcache, prompt);
    const again = await complete(withLmcache, prompt);
    assert.deepEqual(
      { gpu: again.gpu, lmcache: again.lmcache, retrieves: again.retrieves },
      { gpu: FULL_BLOCK_TOKENS, lmcache: 0, retrieves: 0 },
    );
    assert.match(withLmcache.proc.output, /prompt 600 tokens \(cached: GPU 592, LMCache 0; prefilled 8\)/);
  });

  it('keeps the baseline away from the LMCache server', async () => {
    const before = await lmcacheCounters(lmcache);
    await complete(baseline, longPrompt('hotel', PROMPT_TOKENS));
    assert.deepEqual(await lmcacheCounters(lmcache), before);
    assert.equal((await baseline.stats()).lmcache, null);
  });

  it('registers again after the LMCache server restarted, and stores and retrieves as before', async () => {
    const server = await startLmcache();
    const vllm = await startVllm({ gpuMemoryUtilization: SMALL_GPU, lmcachePort: server.port });
    await complete(vllm, longPrompt('before-restart', PROMPT_TOKENS));
    await server.restart();
    const prompt = longPrompt('after-restart', PROMPT_TOKENS);
    await complete(vllm, prompt);
    await fetch(`${vllm.url}/reset_prefix_cache`, { method: 'POST' });
    const again = await complete(vllm, prompt);
    const stats = (await vllm.stats()).lmcache!;
    assert.equal(stats.registrations, 2, 'a refused store made it register again');
    assert.equal(again.lmcache, CHUNKED_TOKENS);
    assert.match(vllm.proc.output, /refused store: registering this instance again/);
  });
});

describe('sim LMCache connector without a server', () => {
  after(stopAll);

  it('fails a request whose LMCache server does not answer, naming the server and the call', async () => {
    const port = await freePort();
    const server = await startVllm({ lmcachePort: port });
    const body = { model: MODEL, prompt: longPrompt('orphan', PROMPT_TOKENS), max_tokens: 2 };
    await assert.rejects(server.openai.completions.create(body), (error: Error) => {
      assert.match(error.message, new RegExp(`LMCache register_kv_cache failed: .*127\\.0\\.0\\.1:${port}.*within`));
      return true;
    });
    assert.equal((await server.stats()).requests.failed, 1);
  });
});
