/**
 * Each SIM_DEFECT does what the pipeline's checks must catch, on the LMCache path only. Checked through
 * outputs and counters; the only clock readings are lower bounds, which a slow machine cannot break.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import OpenAI from 'openai';
import {
  BLOCK_TOKENS,
  PREFILL_SECONDS_PER_TOKEN,
  SLOW_LOAD_SECONDS_PER_TOKEN,
  SLOW_STORE_SECONDS_PER_TOKEN,
} from '../../src/sim/cost-model.js';
import {
  MODEL,
  connectVllm,
  launchVllm,
  longPrompt,
  runToExit,
  startLmcache,
  startVllm,
  stopAll,
  type VllmServer,
} from './sim-harness.js';

const SMALL_GPU = 0.05;
const PROMPT_TOKENS = 410;
const FULL_BLOCK_TOKENS = Math.floor(PROMPT_TOKENS / BLOCK_TOKENS) * BLOCK_TOKENS;

async function ask(server: VllmServer, prompt: string, maxTokens = 8) {
  const started = performance.now();
  const reply = await server.openai.completions.create({
    model: MODEL,
    prompt,
    max_tokens: maxTokens,
    ignore_eos: true,
    // Unframed, so the prompt is exactly PROMPT_TOKENS tokens.
    add_special_tokens: false,
  } as OpenAI.CompletionCreateParamsNonStreaming);
  return { text: reply.choices[0].text, seconds: (performance.now() - started) / 1000 };
}

/** Sends four prompts that overflow the small GPU cache, so that the first one next comes from LMCache. */
async function overflowGpuCache(server: VllmServer, tag: string): Promise<string> {
  const prompts = ['a', 'b', 'c', 'd'].map((name) => longPrompt(`${tag}-${name}`, PROMPT_TOKENS));
  for (const prompt of prompts) await ask(server, prompt);
  await server.storesSettled();
  return prompts[0];
}

describe('sim defects', () => {
  after(stopAll);

  it('corrupt-on-hit: a second identical request, served from cache, gives different text; the baseline ignores it', async () => {
    const env = { SIM_DEFECT: 'corrupt-on-hit' };
    const lmcache = await startLmcache({ env });
    const [withLmcache, baseline] = await Promise.all([
      startVllm({ lmcachePort: lmcache.port, env }),
      startVllm({ env }),
    ]);
    const prompt = longPrompt('corrupt', PROMPT_TOKENS);
    const [first, second] = [await ask(withLmcache, prompt), await ask(withLmcache, prompt)];
    const [baseFirst, baseSecond] = [await ask(baseline, prompt), await ask(baseline, prompt)];
    assert.equal(first.text, baseFirst.text, 'without a cache hit the output is the true one');
    assert.notEqual(second.text, first.text);
    assert.equal(baseSecond.text, baseFirst.text);
    assert.equal((await baseline.stats()).defect, 'none');
    assert.match(baseline.proc.output, /SIM_DEFECT=corrupt-on-hit ignored: this server has no LMCache connector/);
    assert.match(withLmcache.proc.output, /corrupt-on-hit changed the output/);
  });

  it('never-hit: the LMCache server stores everything but never reports a hit', async () => {
    const lmcache = await startLmcache({ env: { SIM_DEFECT: 'never-hit' } });
    const server = await startVllm({ lmcachePort: lmcache.port, gpuMemoryUtilization: SMALL_GPU });
    const prompt = await overflowGpuCache(server, 'never');
    const before = await server.stats();
    await ask(server, prompt);
    const after = await server.stats();
    assert.equal(after.lmcacheHitTokens, 0);
    assert.equal(after.prefillTokens - before.prefillTokens, PROMPT_TOKENS);
    const stored = await lmcache.stats();
    assert.equal(stored.storedTokens, 4 * FULL_BLOCK_TOKENS);
    assert.equal(stored.lookupHitTokens, 0);
    assert.match(lmcache.proc.output, /\[SIM_DEFECT=never-hit hid 25\]/);
  });

  it('slow-load: loading a prompt from LMCache costs more than prefilling it', async () => {
    const lmcache = await startLmcache();
    const env = { SIM_DEFECT: 'slow-load' };
    const server = await startVllm({ lmcachePort: lmcache.port, gpuMemoryUtilization: SMALL_GPU, env });
    const prompt = await overflowGpuCache(server, 'slow-load');
    const before = await server.stats();
    const reply = await ask(server, prompt, 1);
    const after = await server.stats();
    const hits = after.lmcacheHitTokens - before.lmcacheHitTokens;
    assert.equal(hits, FULL_BLOCK_TOKENS);
    const loadSeconds = after.modelledSeconds.load - before.modelledSeconds.load;
    assert.ok(Math.abs(loadSeconds - hits * SLOW_LOAD_SECONDS_PER_TOKEN) < 1e-9);
    assert.ok(loadSeconds > hits * PREFILL_SECONDS_PER_TOKEN, 'a load slower than the prefill it saves');
    // Timers may fire a millisecond early by this clock, hence the 5 % allowance; a normal load takes 2 ms.
    assert.ok(reply.seconds >= 0.95 * loadSeconds, `answered in ${reply.seconds} s, under the ${loadSeconds} s load`);
  });

  it('slow-store: every request waits for its store on the GPU path, halving prefill throughput', async () => {
    const lmcache = await startLmcache();
    const server = await startVllm({ lmcachePort: lmcache.port, env: { SIM_DEFECT: 'slow-store' } });
    const prompts = ['x', 'y', 'z'].map((name) => longPrompt(`slow-store-${name}`, PROMPT_TOKENS));
    const started = performance.now();
    await Promise.all(prompts.map((prompt) => ask(server, prompt)));
    const elapsed = (performance.now() - started) / 1000;
    // Stores finished before the answers: nothing is pending and the LMCache server already has them all.
    const stats = await server.stats();
    assert.equal(stats.lmcache!.pendingStores, 0);
    assert.equal((await lmcache.stats()).storedTokens, 3 * FULL_BLOCK_TOKENS);
    const storeSeconds = 3 * FULL_BLOCK_TOKENS * SLOW_STORE_SECONDS_PER_TOKEN;
    assert.ok(Math.abs(stats.modelledSeconds.store - storeSeconds) < 1e-9);
    assert.ok(stats.modelledSeconds.store / stats.modelledSeconds.prefill > 0.9, 'GPU time per prompt about doubles');
    // Serialised on the one GPU: three prefills and three stores one after another (overlapped stores would
    // take about 0.33 s); 5 % allowance for timers firing a millisecond early by this clock.
    assert.ok(elapsed >= 0.95 * (stats.modelledSeconds.prefill + storeSeconds), `3 requests took ${elapsed} s`);
  });

  it('crash-after:N: the LMCache-enabled server exits non-zero after serving N requests; the baseline does not', async () => {
    const env = { SIM_DEFECT: 'crash-after:2' };
    const lmcache = await startLmcache({ env });
    const [server, baseline] = await Promise.all([startVllm({ lmcachePort: lmcache.port, env }), startVllm({ env })]);
    await ask(server, 'one');
    await ask(server, 'two');
    const { code } = await server.proc.exited;
    assert.notEqual(code, 0);
    assert.match(server.proc.output, /crash-after:2: simulated engine crash after serving 2 requests/);
    await assert.rejects(ask(server, 'three'));
    for (const prompt of ['one', 'two', 'three']) await ask(baseline, prompt);
    assert.equal((await baseline.stats()).requests.served, 3);
  });

  it('never-healthy: the LMCache-enabled server answers 503 to /health and /v1/models forever', async () => {
    const env = { SIM_DEFECT: 'never-healthy' };
    const server = await connectVllm(launchVllm({ lmcachePort: 1, env }), false);
    const baseline = await startVllm({ env });
    for (let probe = 0; probe < 5; probe++) {
      assert.equal((await fetch(`${server.url}/health`)).status, 503);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal((await fetch(`${server.url}/v1/models`)).status, 503);
    assert.doesNotMatch(server.proc.output, /Application startup complete/);
    assert.equal((await fetch(`${baseline.url}/health`)).status, 200);
  });

  it('refuses an unknown SIM_DEFECT in the LMCache server too', async () => {
    const { code, output } = await runToExit(
      'lmcache',
      ['--l1-size-gb', '1', '--eviction-policy', 'LRU', '--max-workers', '4', '--port', '0'],
      { SIM_DEFECT: 'crash-after:x' },
    );
    assert.equal(code, 2);
    assert.match(output, /crash-after:N/);
  });
});
