/**
 * Each SIM_DEFECT does what the pipeline's checks must catch, on the LMCache path only: faults of the connector
 * side, so the real LMCache server behaves as it does. Checked through outputs and counters (the evidence checks
 * decide on the real server's own, read as the benchmarks read them); the only clock readings are lower bounds,
 * which a slow machine cannot break.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { readingAround } from '../../src/activities/lmcache-metrics.js';
import type { LmcacheCounterReading } from '../../src/report/types.js';
import { lmEvalServed, vllmBenchStored, type EvidenceSettings } from '../../src/verification/lmcache-evidence.js';
import {
  PREFILL_SECONDS_PER_TOKEN,
  LMCACHE_LOAD_SECONDS_PER_TOKEN,
  SLOW_LOAD_SECONDS_PER_TOKEN,
  SLOW_STORE_SECONDS_PER_TOKEN,
} from '../../src/sim/cost-model.js';
import {
  MODEL,
  connectVllm,
  launchVllm,
  longPrompt,
  startLmcache,
  startVllm,
  stopAll,
  type VllmServer,
} from '../helpers/sim-servers.js';
import type { TestLmcacheServer } from '../helpers/lmcache-server.js';

const PROMPT_TOKENS = 600;
/** What LMCache holds of a PROMPT_TOKENS prompt: its whole 256-token chunks. */
const CHUNKED_TOKENS = 512;
const CHUNK_TOKENS = 256;
const EVIDENCE: EvidenceSettings = { required: true, minServedPercent: 50 };

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

/** Asks once (stored in LMCache), then empties the GPU prefix cache: the next ask is LMCache's to serve. */
async function storeThenForgetOnGpu(server: VllmServer, tag: string): Promise<{ prompt: string; text: string }> {
  const prompt = longPrompt(tag, PROMPT_TOKENS);
  const { text } = await ask(server, prompt);
  await server.storesSettled();
  assert.equal((await fetch(`${server.url}/reset_prefix_cache`, { method: 'POST' })).status, 200);
  return { prompt, text };
}

describe('sim defects, on the connector side of the real LMCache server', { timeout: 300_000 }, () => {
  let lmcache: TestLmcacheServer;
  before(async () => {
    lmcache = await startLmcache();
  });
  after(stopAll);

  /** LMCache's counters around `body`, as a benchmark reads them around one of its runs. */
  async function counted(run: string, body: () => Promise<unknown>): Promise<LmcacheCounterReading> {
    const { reading } = await readingAround(lmcache.metricsPort, run, body);
    assert.ok(reading.deltas, reading.unavailable);
    return reading;
  }

  /**
   * lm_eval's shape on one prompt: a first run that stores it, the prefix cache emptied, a second run that LMCache
   * should serve. Returns the evidence check on the server's counters, and both outputs.
   */
  async function servedTwice(server: VllmServer, tag: string) {
    let first!: { prompt: string; text: string };
    const readings = [await counted('first_run', async () => (first = await storeThenForgetOnGpu(server, tag)))];
    let second!: { text: string };
    readings.push(await counted('second_run', async () => (second = await ask(server, first.prompt))));
    return { check: lmEvalServed(readings, CHUNK_TOKENS, EVIDENCE), first: first.text, second: second.text };
  }

  it('none: the second run is served from LMCache, and lm_eval.lmcache_served passes on its counters', async () => {
    const server = await startVllm({ lmcachePort: lmcache.port });
    const { check, first, second } = await servedTwice(server, 'no-defect');
    assert.equal(check.passed, true, check.detail);
    assert.equal(check.value, CHUNKED_TOKENS);
    assert.equal(second, first);
  });

  it('corrupt-on-hit: KV flipped after a retrieve is caught and changes the output; the baseline ignores it', async () => {
    const env = { SIM_DEFECT: 'corrupt-on-hit' };
    const [withLmcache, baseline] = await Promise.all([
      startVllm({ lmcachePort: lmcache.port, env }),
      startVllm({ env }),
    ]);
    const { prompt, text } = await storeThenForgetOnGpu(withLmcache, 'corrupt');
    const second = await ask(withLmcache, prompt);
    const [baseFirst, baseSecond] = [await ask(baseline, prompt), await ask(baseline, prompt)];
    assert.equal(text, baseFirst.text, 'without a cache hit the output is the true one');
    assert.notEqual(second.text, text);
    assert.equal(baseSecond.text, baseFirst.text);
    assert.equal(
      (await withLmcache.stats()).lmcache!.mismatchedBlocks,
      CHUNKED_TOKENS / 16,
      'one flipped byte in each retrieved block',
    );
    assert.equal((await baseline.stats()).defect, 'none');
    assert.match(baseline.proc.output, /SIM_DEFECT=corrupt-on-hit ignored: this server has no LMCache connector/);
    assert.match(withLmcache.proc.output, /retrieved KV for \S+ differs from its tokens' in 32 blocks/);
  });

  it('never-hit: the connector drops what LMCache found and prefills everything; lm_eval.lmcache_served fails', async () => {
    const server = await startVllm({ lmcachePort: lmcache.port, env: { SIM_DEFECT: 'never-hit' } });
    const { check, first, second } = await servedTwice(server, 'never');
    const stats = await server.stats();
    assert.equal(stats.lmcacheHitTokens, 0);
    assert.equal(stats.prefillTokens, 2 * PROMPT_TOKENS);
    assert.equal(stats.lmcache!.retrieves, 0);
    const secondRun = check.detail!.slice(check.detail!.indexOf('second run:'));
    assert.match(secondRun, /^second run: 0 chunks loaded, 0 retrieves finished .* 512 lookup hit tokens/);
    assert.equal(check.passed, false, 'the server itself found the prompt, but delivered nothing');
    assert.equal(second, first, 'prefilled, so the output is right: only the evidence catches it');
    assert.match(server.proc.output, /SIM_DEFECT=never-hit dropped a lookup hit of 512 tokens/);
  });

  it('never-retrieve: the retrieve never reaches LMCache, the request is prefilled; lm_eval.lmcache_served fails', async () => {
    const server = await startVllm({ lmcachePort: lmcache.port, env: { SIM_DEFECT: 'never-retrieve' } });
    const { check, first, second } = await servedTwice(server, 'never-retrieve');
    const stats = await server.stats();
    assert.deepEqual([stats.lmcache!.retrieves, stats.lmcache!.retrieveFailures], [1, 1]);
    assert.equal(stats.lmcacheHitTokens, 0);
    assert.equal(check.passed, false);
    assert.match(
      check.detail!,
      /^LMCache delivered no KV to the second run \(it was prefilled\): second run: 0 chunks loaded, 0 retrieves finished .* 512 lookup hit tokens/,
    );
    assert.equal(second, first);
    assert.match(server.proc.output, /LMCache retrieve of 512 tokens for \S+ failed: prefilling them instead/);
  });

  it('store-fails: no store reaches LMCache; vllm_bench.lmcache_stored and lm_eval.lmcache_served fail, outputs right', async () => {
    const server = await startVllm({ lmcachePort: lmcache.port, env: { SIM_DEFECT: 'store-fails' } });
    const prompts = ['a', 'b', 'c'].map((name) => longPrompt(`store-fails-${name}`, PROMPT_TOKENS));
    const benchSide = await counted('lmcache', () => Promise.all(prompts.map((prompt) => ask(server, prompt))));
    const stored = vllmBenchStored([benchSide], prompts.length, EVIDENCE);
    assert.equal(stored.passed, false);
    assert.equal(
      stored.detail,
      'LMCache finished 0 stores (0 chunks written) for 3 requests; at least one per request',
    );
    const { check, first, second } = await servedTwice(server, 'store-fails');
    assert.equal(check.passed, false);
    assert.match(check.detail!, /first run: 0 stores finished, 0 chunks written \(0 tokens\)/);
    assert.equal(second, first);
    const stats = await server.stats();
    // Three bench prompts, then the same prompt twice: LMCache lacked it both times, so both tried to store it.
    assert.equal(stats.lmcache!.storeFailures, 5);
    assert.equal(stats.lmcache!.storedTokens, 0);
    assert.match(server.proc.output, /SIM_DEFECT=store-fails: the store of 512 tokens for \S+ never reached LMCache/);
  });

  it('slow-load: loading a prompt from LMCache costs more than prefilling it', async () => {
    const server = await startVllm({ lmcachePort: lmcache.port, env: { SIM_DEFECT: 'slow-load' } });
    const { prompt } = await storeThenForgetOnGpu(server, 'slow-load');
    const before = await server.stats();
    const reply = await ask(server, prompt, 1);
    const after = await server.stats();
    const hits = after.lmcacheHitTokens - before.lmcacheHitTokens;
    assert.equal(hits, CHUNKED_TOKENS);
    const loadSeconds = after.modelledSeconds.load - before.modelledSeconds.load;
    assert.ok(Math.abs(loadSeconds - hits * SLOW_LOAD_SECONDS_PER_TOKEN) < 1e-9);
    assert.ok(loadSeconds > hits * PREFILL_SECONDS_PER_TOKEN, 'a load slower than the prefill it saves');
    // Timers may fire a millisecond early by this clock, hence the 5 % allowance; a normal load takes 3 ms.
    assert.ok(reply.seconds >= 0.95 * loadSeconds, `answered in ${reply.seconds} s, under the ${loadSeconds} s load`);
  });

  it('slow-store: every request waits for its store on the GPU path', async () => {
    const server = await startVllm({ lmcachePort: lmcache.port, env: { SIM_DEFECT: 'slow-store' } });
    const prompts = ['x', 'y', 'z'].map((name) => longPrompt(`slow-store-${name}`, PROMPT_TOKENS));
    const started = performance.now();
    await Promise.all(prompts.map((prompt) => ask(server, prompt)));
    const elapsed = (performance.now() - started) / 1000;
    // Stores finished before the answers: nothing is pending and LMCache already has them all.
    const stats = await server.stats();
    assert.equal(stats.lmcache!.pendingStores, 0);
    assert.equal(stats.lmcache!.storedTokens, 3 * CHUNKED_TOKENS);
    const storeSeconds = 3 * CHUNKED_TOKENS * SLOW_STORE_SECONDS_PER_TOKEN;
    assert.ok(Math.abs(stats.modelledSeconds.store - storeSeconds) < 1e-9);
    // Serialised on the one GPU: three prefills and three stores one after another; 5 % allowance for timers
    // firing a millisecond early by this clock.
    assert.ok(elapsed >= 0.95 * (stats.modelledSeconds.prefill + storeSeconds), `3 requests took ${elapsed} s`);
  });

  it('slow-store:P: a request that stores holds the GPU P/(100 − P) of its prefill longer, so throughput drops P %', async () => {
    const server = await startVllm({ lmcachePort: lmcache.port, env: { SIM_DEFECT: 'slow-store:20' } });
    assert.equal((await server.stats()).defect, 'slow-store:20');
    const prompts = ['p', 'q'].map((name) => longPrompt(`slow-store-20-${name}`, PROMPT_TOKENS));
    const started = performance.now();
    await Promise.all(prompts.map((prompt) => ask(server, prompt)));
    const elapsed = (performance.now() - started) / 1000;
    const { modelledSeconds } = await server.stats();
    // 20 / 80 of the prefill: 80 % of the throughput, whatever share of the prompt fills whole chunks.
    assert.ok(Math.abs(modelledSeconds.store - modelledSeconds.prefill / 4) < 1e-9, JSON.stringify(modelledSeconds));
    assert.ok(elapsed >= 0.95 * (modelledSeconds.prefill + modelledSeconds.store), `2 requests took ${elapsed} s`);
  });

  it('slow-load:MS: each retrieve adds MS milliseconds to the load', async () => {
    const server = await startVllm({ lmcachePort: lmcache.port, env: { SIM_DEFECT: 'slow-load:30' } });
    const { prompt } = await storeThenForgetOnGpu(server, 'slow-load-30');
    const before = await server.stats();
    const reply = await ask(server, prompt, 1);
    const after = await server.stats();
    const loadSeconds = after.modelledSeconds.load - before.modelledSeconds.load;
    assert.ok(Math.abs(loadSeconds - (CHUNKED_TOKENS * LMCACHE_LOAD_SECONDS_PER_TOKEN + 0.03)) < 1e-9);
    assert.ok(reply.seconds >= 0.95 * loadSeconds, `answered in ${reply.seconds} s, under the ${loadSeconds} s load`);
  });

  it('crash-after:N: the LMCache-enabled server exits non-zero after serving N requests; the baseline does not', async () => {
    const env = { SIM_DEFECT: 'crash-after:2' };
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
    const server = await connectVllm(launchVllm({ lmcachePort: lmcache.port, env }), false);
    const baseline = await startVllm({ env });
    for (let probe = 0; probe < 5; probe++) {
      assert.equal((await fetch(`${server.url}/health`)).status, 503);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal((await fetch(`${server.url}/v1/models`)).status, 503);
    assert.doesNotMatch(server.proc.output, /Application startup complete/);
    assert.equal((await fetch(`${baseline.url}/health`)).status, 200);
  });
});
