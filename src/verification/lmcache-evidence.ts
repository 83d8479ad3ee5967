/**
 * The evidence checks: LMCache's own counters (read around each benchmark run, ../activities/lmcache-metrics.ts)
 * must show that it did the work the benchmarks rely on, since every other check also passes when vLLM prefills
 * everything itself. A figure that cannot be read fails the check, naming why. Pure.
 */
import type { VllmKvCache } from '../metrics/vllm-cache-config.js';
import type { Check, LmcacheCounterDeltas, LmcacheCounterReading } from '../report/types.js';
import { atLeast, formatNumber } from './format.js';

/** A figure read from a server, or the sentence that says why it could not be. */
export type Known<T> = T | { unavailable: string };

export interface EvidenceSettings {
  /** REQUIRE_LMCACHE_EVIDENCE: false shows the checks without letting them decide the run. */
  required: boolean;
  /** LMCACHE_MIN_SERVED_PERCENT: the share of the reusable tokens LMCache must deliver. */
  minServedPercent: number;
}

function isUnavailable<T>(value: Known<T>): value is { unavailable: string } {
  return typeof value === 'object' && value !== null && 'unavailable' in value;
}

/** What one run of a stage made LMCache's counters do. */
function deltasOf(readings: LmcacheCounterReading[], run: string): Known<LmcacheCounterDeltas> {
  const reading = readings.find((entry) => entry.run === run);
  if (!reading) return { unavailable: `LMCache's counters were not read around the ${run} run` };
  return reading.deltas ?? { unavailable: reading.unavailable ?? `no counters for the ${run} run` };
}

/**
 * Chunks that retrieves delivered into vLLM's KV cache. A server that does not count loaded chunks still counts the
 * L1 chunks its finished retrieves read.
 */
function deliveredChunks(deltas: LmcacheCounterDeltas): number {
  if (deltas.chunksLoaded > 0) return deltas.chunksLoaded;
  return deltas.finishedRetrieves > 0 ? deltas.l1ReadChunks : 0;
}

function delivery(deltas: LmcacheCounterDeltas, chunkTokens: number): string {
  return (
    `${deltas.chunksLoaded} chunks loaded, ${deltas.finishedRetrieves} retrieves finished ` +
    `(${deltas.l1ReadChunks} L1 chunks read), ${deltas.hitTokens} lookup hit tokens; ` +
    `${formatNumber(deliveredChunks(deltas) * chunkTokens)} tokens delivered at ${chunkTokens} per chunk`
  );
}

/** The check as it stands, or, with REQUIRE_LMCACHE_EVIDENCE=0, shown without deciding and saying what it found. */
function decided(check: Check, settings: EvidenceSettings): Check {
  if (settings.required) return check;
  const found = check.passed ? 'shown' : 'NOT shown';
  return {
    ...check,
    passed: true,
    reportOnly: true,
    detail: `report only (REQUIRE_LMCACHE_EVIDENCE=0), ${found}: ${check.detail}`,
  };
}

function unshown(name: string, what: string, reason: string, limit: number | string | null): Check {
  return { name, passed: false, value: null, limit, detail: `cannot show ${what}: ${reason}` };
}

/**
 * `lm_eval.lmcache_served`: the second run, on a prefix cache emptied after the first, got KV from LMCache, at
 * least the given share of what the first run stored there (in whole chunks, the only thing LMCache holds).
 */
export function lmEvalServed(
  readings: LmcacheCounterReading[],
  chunkTokens: Known<number>,
  settings: EvidenceSettings,
): Check {
  const name = 'lm_eval.lmcache_served';
  const first = deltasOf(readings, 'first_run');
  const second = deltasOf(readings, 'second_run');
  for (const known of [first, second, chunkTokens]) {
    if (isUnavailable(known)) return decided(unshown(name, 'LMCache served', known.unavailable, null), settings);
  }
  const [stored, served, chunk] = [first, second, chunkTokens] as [LmcacheCounterDeltas, LmcacheCounterDeltas, number];
  const storedTokens = stored.l1WrittenChunks * chunk;
  const servedTokens = deliveredChunks(served) * chunk;
  const minimum = (storedTokens * settings.minServedPercent) / 100;
  const passed = deliveredChunks(served) > 0 && atLeast(servedTokens, minimum);
  const figures =
    `second run: ${delivery(served, chunk)}; first run: ${stored.finishedStores} stores finished, ` +
    `${stored.l1WrittenChunks} chunks written (${formatNumber(storedTokens)} tokens), ` +
    `of which ${settings.minServedPercent} % must be served`;
  const verdict = deliveredChunks(served) === 0 ? 'LMCache delivered no KV to the second run (it was prefilled): ' : '';
  return decided({ name, passed, value: servedTokens, limit: minimum, detail: verdict + figures }, settings);
}

/** The long doc QA workload, as configured. */
export interface LongDocQaWorkload {
  numDocuments: number;
  documentLength: number;
}

/**
 * `long_doc_qa.lmcache_served`: the query round's reuse came from LMCache. The documents vLLM's own prefix cache
 * cannot hold must come from LMCache (in whole chunks); if it holds them all, LMCache was never needed and the run
 * tested nothing, which fails too.
 */
export function longDocQaServed(
  readings: LmcacheCounterReading[],
  workload: LongDocQaWorkload,
  chunkTokens: Known<number>,
  kvCache: Known<VllmKvCache>,
  settings: EvidenceSettings,
): Check {
  const name = 'long_doc_qa.lmcache_served';
  const lmcache = deltasOf(readings, 'lmcache');
  for (const known of [lmcache, chunkTokens, kvCache]) {
    if (isUnavailable(known)) return decided(unshown(name, 'LMCache served', known.unavailable, null), settings);
  }
  const deltas = lmcache as LmcacheCounterDeltas;
  const chunk = chunkTokens as number;
  const { numGpuBlocks, blockSize } = kvCache as VllmKvCache;
  const { numDocuments, documentLength } = workload;
  const delivered = deliveredChunks(deltas) * chunk;
  const cacheText = `vLLM's prefix cache holds ${numGpuBlocks} blocks × ${blockSize} tokens = ${formatNumber(numGpuBlocks * blockSize)} tokens`;
  const blocksPerDocument = Math.ceil(documentLength / blockSize);
  const fitting = Math.min(numDocuments, Math.floor(numGpuBlocks / blocksPerDocument));
  const overflowing = numDocuments - fitting;
  const chunkTokensPerDocument = Math.floor(documentLength / chunk) * chunk;
  const neverReached = (why: string) =>
    decided(
      { name, passed: false, value: delivered, limit: null, detail: `the workload never reached LMCache: ${why}` },
      settings,
    );
  if (overflowing === 0) {
    return neverReached(
      `${numDocuments} documents × ${documentLength} tokens fit vLLM's prefix cache; raise NUM_DOCUMENTS or ` +
        `DOCUMENT_LENGTH (${cacheText})`,
    );
  }
  if (chunkTokensPerDocument === 0) {
    return neverReached(
      `documents of ${documentLength} tokens are shorter than one LMCache chunk (${chunk} tokens); raise DOCUMENT_LENGTH`,
    );
  }
  const needed = overflowing * chunkTokensPerDocument;
  const minimum = (needed * settings.minServedPercent) / 100;
  const detail =
    `${delivery(deltas, chunk)}. ${cacheText}: ${fitting} of the ${numDocuments} documents of ${documentLength} ` +
    `tokens (${blocksPerDocument} blocks each); the other ${overflowing} hold ${chunkTokensPerDocument} tokens each ` +
    `in whole chunks, ${formatNumber(needed)} tokens, of which ${settings.minServedPercent} % must come from LMCache`;
  // The minimum is above 0 here, so meeting it means LMCache delivered something.
  const passed = atLeast(delivered, minimum);
  const verdict = passed ? '' : `LMCache delivered ${formatNumber(delivered)} tokens, under ${formatNumber(minimum)}: `;
  return decided({ name, passed, value: delivered, limit: minimum, detail: verdict + detail }, settings);
}

/** `vllm_bench.lmcache_stored`: LMCache finished a store for every request, so it sat in the request path. */
export function vllmBenchStored(
  readings: LmcacheCounterReading[],
  numPrompts: number,
  settings: EvidenceSettings,
): Check {
  const name = 'vllm_bench.lmcache_stored';
  const lmcache = deltasOf(readings, 'lmcache');
  if (isUnavailable(lmcache))
    return decided(unshown(name, 'LMCache stored', lmcache.unavailable, numPrompts), settings);
  const detail =
    `LMCache finished ${lmcache.finishedStores} stores (${lmcache.l1WrittenChunks} chunks written) ` +
    `for ${numPrompts} requests; at least one per request`;
  return decided(
    { name, passed: lmcache.finishedStores >= numPrompts, value: lmcache.finishedStores, limit: numPrompts, detail },
    settings,
  );
}

/** The counters that move when a vLLM server talks to LMCache. */
const TRAFFIC: ReadonlyArray<[keyof LmcacheCounterDeltas, string]> = [
  ['lookups', 'lookups'],
  ['finishedStores', 'stores finished'],
  ['finishedRetrieves', 'retrieves finished'],
  ['chunksLoaded', 'chunks loaded'],
];

/**
 * `<stage>.baseline_isolated`: LMCache's counters stood still while only the baseline was served, so the baseline
 * is measured without LMCache and nothing of its run is counted as LMCache's.
 */
export function baselineIsolated(stage: string, readings: LmcacheCounterReading[], settings: EvidenceSettings): Check {
  const name = `${stage}.baseline_isolated`;
  const baseline = deltasOf(readings, 'baseline');
  if (isUnavailable(baseline)) {
    return decided(unshown(name, 'the baseline isolated from LMCache', baseline.unavailable, 0), settings);
  }
  const moved = TRAFFIC.filter(([field]) => baseline[field] !== 0);
  const value = moved.reduce((sum, [field]) => sum + baseline[field], 0);
  const detail =
    moved.length === 0
      ? `no lookup, store or retrieve reached LMCache during the baseline run`
      : `LMCache counted ${moved.map(([field, words]) => `${baseline[field]} ${words}`).join(', ')} during the baseline run`;
  return decided({ name, passed: moved.length === 0, value, limit: 0, detail }, settings);
}
