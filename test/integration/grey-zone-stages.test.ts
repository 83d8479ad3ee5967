/**
 * The grey zone in the benchmark stages, against the real Docker engine with the sim image and noisy servers: a
 * figure in the zone is measured again (vllm_bench by whole pairs on emptied caches, long_doc_qa by the LMCache
 * side) and decided by its median; with MAX_REPEATS=0 it is measured once, as the suite always did. Activities run
 * in a mock activity context; Docker, the servers and the tools are real.
 */
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { buildImage } from '../../src/activities/build.js';
import { cleanupContainers } from '../../src/activities/cleanup.js';
import { waitForHealth } from '../../src/activities/health.js';
import { launchContainers } from '../../src/activities/launch.js';
import { runLongDocQa } from '../../src/activities/long-doc-qa.js';
import { runVllmBench } from '../../src/activities/vllm-bench.js';
import { resolveConfig, type Config, type ConfigInput } from '../../src/config/schema.js';
import { freePort } from '../helpers/ports.js';

function activity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args);
}

describe('grey-zone repeats in the benchmark stages', { timeout: 600_000 }, () => {
  const workflowId = `it-grey-zone-${process.pid}`;
  let config: Config;
  const withKnobs = (knobs: ConfigInput): Config => resolveConfig({ ...config, ...knobs }, { workflowId });

  before(async () => {
    const ports = { vllmPort: await freePort(), vllmBaselinePort: await freePort(), lmcachePort: await freePort() };
    config = resolveConfig(
      {
        profile: 'sim',
        ...ports,
        lmcacheHttpPort: await freePort(),
        image: process.env.IMAGE ?? 'lmcache-mp-sim:test',
        buildId: workflowId,
        simStartupSeconds: 0,
        simNoisePercent: 3,
        randomSeed: 7,
        numPrompts: 4,
        randomInputLen: 1000,
        numDocuments: 2,
        simGpuCacheTokens: 4000,
      },
      { workflowId },
    );
    await activity(buildImage, config);
    await activity(launchContainers, { config, workflowId });
    await activity(waitForHealth, { config, workflowId });
  });
  after(async () => {
    await activity(cleanupContainers, { workflowId, resultsDir: config.resultsDir });
    await rm(config.resultsDir, { recursive: true, force: true });
  });

  it('vllm_bench: a ratio in the zone is measured again by interleaved pairs and decided by the median', async () => {
    // A zone of 50 points holds any ratio the sim gives, and with one repeat allowed a first sample alone never
    // decides (one of at most two), so the repeat is always taken.
    const outcome = await activity(runVllmBench, {
      config: withKnobs({ greyZonePercent: 50, maxRepeats: 1 }),
      workflowId,
    });
    const check = outcome.checks.find((c) => c.name === 'vllm_bench.throughput')!;
    const samples = check.samples!;
    assert.equal(samples.values.length, 2);
    assert.equal(samples.reasons.length, 1);
    assert.match(samples.reasons[0]!, /^first ratio [\d.]+ %, within 50 points of the 95 % limit$/);
    assert.ok(samples.interval[0] <= samples.median && samples.median <= samples.interval[1]);
    assert.equal(check.passed, samples.median >= 95);
    assert.match(check.detail!, /2 samples of the ratio/);
    assert.match(check.detail!, /Sim noise 3 % per batch, lasting about 1 s, SIM_NOISE_SEED=7\./);
    const files = (await readdir(path.join(config.resultsDir, 'vllm_bench'))).filter((f) => f.endsWith('.json'));
    assert.deepEqual(files.sort(), ['baseline-repeat1.json', 'baseline.json', 'lmcache-repeat1.json', 'lmcache.json']);
    // The evidence checks read the first pair only, and still hold.
    assert.ok(outcome.checks.find((c) => c.name === 'vllm_bench.lmcache_stored')!.passed);
  });

  it('vllm_bench with MAX_REPEATS=0: one sample, the check as the suite had it', async () => {
    const outcome = await activity(runVllmBench, {
      config: withKnobs({ greyZonePercent: 50, maxRepeats: 0 }),
      workflowId,
      retry: 1,
    });
    const check = outcome.checks.find((c) => c.name === 'vllm_bench.throughput')!;
    assert.equal(check.samples, undefined);
    assert.match(check.detail!, /^LMCache reached (only )?[\d.]+ tok\/s, [\d.]+% of the baseline's/);
  });

  it('long_doc_qa: latencies in the zone run the LMCache side again, each decided by its median', async () => {
    const outcome = await activity(runLongDocQa, {
      config: withKnobs({ greyZonePercent: 99, maxRepeats: 1 }),
      workflowId,
      retry: 2,
    });
    const ttft = outcome.checks.find((c) => c.name === 'long_doc_qa.query_ttft_per_prompt')!;
    assert.equal(ttft.samples?.values.length, 2);
    assert.match(ttft.samples!.reasons[0]!, /first query TTFT [\d.]+ s, within 99 % \([\d.]+ s\) of the 0\.2 s limit/);
    assert.equal(ttft.value, ttft.samples!.median);
    const files = await readdir(path.join(config.resultsDir, 'long_doc_qa'));
    assert.ok(files.includes('lmcache-repeat1_result.json'), files.join(' '));
    assert.ok(!files.includes('baseline-repeat1_result.json'), 'the baseline is not measured again');
  });
});
