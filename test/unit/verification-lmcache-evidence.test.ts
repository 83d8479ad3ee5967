/**
 * The LMCache evidence checks: each passes on counters that show LMCache did the work, and fails (naming the
 * figures) on counters that show it did not, on a workload that never needed it, and on figures that could not be read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LmcacheCounterDeltas, LmcacheCounterReading } from '../../src/report/types.js';
import {
  baselineIsolated,
  lmEvalServed,
  longDocQaServed,
  vllmBenchStored,
  type EvidenceSettings,
} from '../../src/verification/lmcache-evidence.js';

const REQUIRED: EvidenceSettings = { required: true, minServedPercent: 50 };
const REPORT_ONLY: EvidenceSettings = { required: false, minServedPercent: 50 };
const CHUNK = 256;
const REFUSED = { unavailable: 'LMCache metrics not reachable at 127.0.0.1:20003: connection refused' };

const IDLE: LmcacheCounterDeltas = {
  lookups: 0,
  hitTokens: 0,
  finishedStores: 0,
  l1WrittenChunks: 0,
  finishedRetrieves: 0,
  l1ReadChunks: 0,
  chunksLoaded: 0,
  evictedChunks: 0,
  usageRatioAfter: 0.01,
};
const counters = (changes: Partial<LmcacheCounterDeltas>): LmcacheCounterDeltas => ({ ...IDLE, ...changes });

describe('lm_eval.lmcache_served', () => {
  // The sim's 40 prompts: the first run stores 100 chunks, the second loads them back after the prefix cache reset.
  const stored = counters({ lookups: 40, finishedStores: 40, l1WrittenChunks: 100 });
  const lmEval = (second: Partial<LmcacheCounterDeltas>): LmcacheCounterReading[] => [
    { run: 'first_run', deltas: stored },
    { run: 'second_run', deltas: counters({ lookups: 40, ...second }) },
  ];

  it('passes when the second run got at least the share of what the first stored, and shows the figures', () => {
    const check = lmEvalServed(
      lmEval({ hitTokens: 25600, finishedRetrieves: 40, l1ReadChunks: 100, chunksLoaded: 100 }),
      CHUNK,
      REQUIRED,
    );
    assert.equal(check.passed, true, check.detail);
    assert.equal(check.value, 25600);
    assert.equal(check.limit, 12800);
    assert.match(check.detail!, /100 chunks loaded, 40 retrieves finished .* 25600 tokens delivered at 256 per chunk/);
    assert.match(check.detail!, /first run: 40 stores finished, 100 chunks written \(25600 tokens\), of which 50 %/);
  });

  it('fails when lookups hit but nothing was delivered (never-hit, never-retrieve): the second run was prefilled', () => {
    const check = lmEvalServed(lmEval({ hitTokens: 25600 }), CHUNK, REQUIRED);
    assert.equal(check.passed, false);
    assert.equal(check.value, 0);
    assert.match(
      check.detail!,
      /^LMCache delivered no KV to the second run \(it was prefilled\): .*25600 lookup hit tokens/,
    );
  });

  it('fails when nothing was stored to serve (store-fails), though 0 tokens would meet 50 % of 0', () => {
    const check = lmEvalServed(
      [
        { run: 'first_run', deltas: counters({ lookups: 40 }) },
        { run: 'second_run', deltas: counters({ lookups: 40 }) },
      ],
      CHUNK,
      REQUIRED,
    );
    assert.equal(check.passed, false);
    assert.equal(check.limit, 0);
    assert.match(check.detail!, /first run: 0 stores finished, 0 chunks written/);
  });

  it('fails below the share', () => {
    const check = lmEvalServed(lmEval({ finishedRetrieves: 2, l1ReadChunks: 49, chunksLoaded: 49 }), CHUNK, REQUIRED);
    assert.equal(check.passed, false);
    assert.equal(check.value, 49 * CHUNK);
  });

  it('counts the L1 chunks finished retrieves read, from a server that does not count loaded chunks', () => {
    const check = lmEvalServed(lmEval({ finishedRetrieves: 40, l1ReadChunks: 100 }), CHUNK, REQUIRED);
    assert.equal(check.passed, true, check.detail);
    assert.equal(check.value, 25600);
  });

  it('fails naming why when the counters or the chunk size could not be read', () => {
    const unread = lmEvalServed(
      [
        { run: 'first_run', deltas: stored },
        { run: 'second_run', ...REFUSED },
      ],
      CHUNK,
      REQUIRED,
    );
    assert.equal(unread.passed, false);
    assert.equal(
      unread.detail,
      'cannot show LMCache served: LMCache metrics not reachable at 127.0.0.1:20003: connection refused',
    );
    const noChunk = lmEvalServed(lmEval({ chunksLoaded: 100 }), { unavailable: 'no answer' }, REQUIRED);
    assert.equal(noChunk.passed, false);
    assert.equal(noChunk.detail, 'cannot show LMCache served: no answer');
    const missing = lmEvalServed([{ run: 'first_run', deltas: stored }], CHUNK, REQUIRED);
    assert.match(
      missing.detail!,
      /^cannot show LMCache served: LMCache's counters were not read around the second_run run/,
    );
  });

  it('with REQUIRE_LMCACHE_EVIDENCE=0 shows what it found without deciding', () => {
    const check = lmEvalServed(lmEval({ hitTokens: 25600 }), CHUNK, REPORT_ONLY);
    assert.equal(check.passed, true);
    assert.equal(check.reportOnly, true);
    assert.match(check.detail!, /^report only \(REQUIRE_LMCACHE_EVIDENCE=0\), NOT shown: LMCache delivered no KV/);
    const shown = lmEvalServed(lmEval({ finishedRetrieves: 40, chunksLoaded: 100 }), CHUNK, REPORT_ONLY);
    assert.match(shown.detail!, /^report only \(REQUIRE_LMCACHE_EVIDENCE=0\), shown: /);
  });
});

describe('long_doc_qa.lmcache_served', () => {
  // The sim's defaults: 12 documents of 2000 tokens; vLLM's prefix cache 1125 blocks of 16 tokens (18000 tokens).
  const workload = { numDocuments: 12, documentLength: 2000 };
  const kvCache = { numGpuBlocks: 1125, blockSize: 16 };
  const run = (lmcache: Partial<LmcacheCounterDeltas>): LmcacheCounterReading[] => [
    { run: 'baseline', deltas: IDLE },
    { run: 'lmcache', deltas: counters(lmcache) },
  ];

  it('passes when LMCache delivered the share of the documents the prefix cache cannot hold, and says how', () => {
    const check = longDocQaServed(run({ finishedRetrieves: 12, chunksLoaded: 84 }), workload, CHUNK, kvCache, REQUIRED);
    assert.equal(check.passed, true, check.detail);
    assert.equal(check.value, 84 * CHUNK);
    // 9 of 12 documents fit (125 blocks each); 3 × 1792 whole-chunk tokens = 5376, half of it 2688.
    assert.equal(check.limit, 2688);
    assert.match(
      check.detail!,
      /vLLM's prefix cache holds 1125 blocks × 16 tokens = 18000 tokens: 9 of the 12 documents of 2000 tokens \(125 blocks each\); the other 3 hold 1792 tokens each in whole chunks, 5376 tokens, of which 50 % must come from LMCache/,
    );
  });

  it('fails when LMCache delivered less (never-hit, never-retrieve, slow stores that never landed)', () => {
    const none = longDocQaServed(run({ lookups: 24, hitTokens: 21504 }), workload, CHUNK, kvCache, REQUIRED);
    assert.equal(none.passed, false);
    assert.equal(none.value, 0);
    assert.match(
      none.detail!,
      /^LMCache delivered 0 tokens, under 2688: 0 chunks loaded, 0 retrieves finished .* 21504 lookup hit tokens/,
    );
    const few = longDocQaServed(run({ finishedRetrieves: 1, chunksLoaded: 10 }), workload, CHUNK, kvCache, REQUIRED);
    assert.equal(few.passed, false);
  });

  it('fails a workload that fits the prefix cache: it never reached LMCache', () => {
    const check = longDocQaServed(run({}), { numDocuments: 4, documentLength: 2000 }, CHUNK, kvCache, REQUIRED);
    assert.equal(check.passed, false);
    assert.match(
      check.detail!,
      /^the workload never reached LMCache: 4 documents × 2000 tokens fit vLLM's prefix cache; raise NUM_DOCUMENTS or DOCUMENT_LENGTH \(vLLM's prefix cache holds 1125 blocks × 16 tokens = 18000 tokens\)$/,
    );
    // Nine fit exactly; a tenth does not.
    assert.equal(
      longDocQaServed(run({}), { numDocuments: 9, documentLength: 2000 }, CHUNK, kvCache, REQUIRED).passed,
      false,
    );
    const ten = longDocQaServed(
      run({ chunksLoaded: 7 }),
      { numDocuments: 10, documentLength: 2000 },
      CHUNK,
      kvCache,
      REQUIRED,
    );
    assert.equal(ten.limit, 896);
    assert.equal(ten.passed, true, ten.detail);
  });

  it('fails documents shorter than one LMCache chunk: LMCache holds none of them', () => {
    const check = longDocQaServed(run({}), { numDocuments: 2000, documentLength: 200 }, CHUNK, kvCache, REQUIRED);
    assert.equal(check.passed, false);
    assert.match(
      check.detail!,
      /documents of 200 tokens are shorter than one LMCache chunk \(256 tokens\); raise DOCUMENT_LENGTH/,
    );
  });

  it("fails naming why when vLLM's cache size, the chunk size or the counters could not be read", () => {
    const vllm = { unavailable: 'vLLM metrics not reachable at 127.0.0.1:8000: connection refused' };
    const noCache = longDocQaServed(run({ chunksLoaded: 84 }), workload, CHUNK, vllm, REQUIRED);
    assert.equal(noCache.passed, false);
    assert.equal(noCache.detail, `cannot show LMCache served: ${vllm.unavailable}`);
    const noCounters = longDocQaServed([{ run: 'lmcache', ...REFUSED }], workload, CHUNK, kvCache, REQUIRED);
    assert.equal(noCounters.detail, `cannot show LMCache served: ${REFUSED.unavailable}`);
  });
});

describe('vllm_bench.lmcache_stored', () => {
  const run = (lmcache: Partial<LmcacheCounterDeltas>): LmcacheCounterReading[] => [
    { run: 'baseline', deltas: IDLE },
    { run: 'lmcache', deltas: counters(lmcache) },
  ];

  it('passes with a finished store per request', () => {
    const check = vllmBenchStored(run({ finishedStores: 20, l1WrittenChunks: 140 }), 20, REQUIRED);
    assert.deepEqual([check.passed, check.value, check.limit], [true, 20, 20]);
    assert.equal(
      check.detail,
      'LMCache finished 20 stores (140 chunks written) for 20 requests; at least one per request',
    );
  });

  it('fails with fewer (store-fails: none reached the server)', () => {
    assert.equal(vllmBenchStored(run({ finishedStores: 19 }), 20, REQUIRED).passed, false);
    assert.equal(vllmBenchStored(run({ lookups: 20 }), 20, REQUIRED).passed, false);
  });

  it('fails naming why when the counters could not be read', () => {
    const check = vllmBenchStored([{ run: 'lmcache', ...REFUSED }], 20, REQUIRED);
    assert.equal(check.passed, false);
    assert.equal(check.detail, `cannot show LMCache stored: ${REFUSED.unavailable}`);
  });
});

describe('<stage>.baseline_isolated', () => {
  it('passes when no lookup, store or retrieve reached LMCache during the baseline run', () => {
    const check = baselineIsolated(
      'long_doc_qa',
      [{ run: 'baseline', deltas: counters({ evictedChunks: 3 }) }],
      REQUIRED,
    );
    assert.deepEqual(
      [check.name, check.passed, check.value, check.limit],
      ['long_doc_qa.baseline_isolated', true, 0, 0],
    );
  });

  it('fails naming what moved', () => {
    const check = baselineIsolated(
      'vllm_bench',
      [{ run: 'baseline', deltas: counters({ lookups: 20, finishedStores: 20 }) }],
      REQUIRED,
    );
    assert.equal(check.passed, false);
    assert.equal(check.value, 40);
    assert.equal(check.detail, 'LMCache counted 20 lookups, 20 stores finished during the baseline run');
  });

  it('fails naming why when the counters could not be read, and only reports with REQUIRE_LMCACHE_EVIDENCE=0', () => {
    const check = baselineIsolated('vllm_bench', [{ run: 'baseline', ...REFUSED }], REQUIRED);
    assert.equal(check.passed, false);
    assert.equal(check.detail, `cannot show the baseline isolated from LMCache: ${REFUSED.unavailable}`);
    const reported = baselineIsolated('vllm_bench', [{ run: 'baseline', ...REFUSED }], REPORT_ONLY);
    assert.deepEqual([reported.passed, reported.reportOnly], [true, true]);
    assert.match(reported.detail!, /^report only \(REQUIRE_LMCACHE_EVIDENCE=0\), NOT shown: cannot show/);
  });
});
