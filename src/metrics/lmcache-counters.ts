/**
 * LMCache MP server's own counters, as its Prometheus exporter shows them, and what one benchmark run made them
 * do (after minus before). Pure: the reading over HTTP is in src/activities/lmcache-metrics.ts.
 */
import type { LmcacheCounterDeltas } from '../report/types.js';
import { maxOf, parsePrometheusText, sumOf } from './prometheus-text.js';

/** The counters reported, by the names the server (lmcache 0.5.6, OpenTelemetry's exporter) gives them. */
export const LMCACHE_COUNTERS = {
  hitTokens: 'lmcache_mp_lookup_hit_tokens_total',
  finishedStores: 'lmcache_mp_num_finished_stores_total',
  finishedRetrieves: 'lmcache_mp_num_finished_retrieves_total',
  evictedChunks: 'lmcache_mp_l1_evicted_chunks_total',
} as const;

/**
 * L1's used/total ratio. An observable gauge, so the server exports it from its start: it tells LMCache's MP
 * server's metrics from anything else on the port.
 */
export const LMCACHE_USAGE_RATIO = 'lmcache_mp_l1_usage_ratio';
/** The server counts from events its event bus drains on a thread of its own: queued ones are not counted yet. */
const LMCACHE_QUEUED_EVENTS = 'lmcache_mp_event_bus_queue_depth';

export type LmcacheCounterName = keyof typeof LMCACHE_COUNTERS;
export type LmcacheSnapshot = Record<LmcacheCounterName, number> & { usageRatio: number; queuedEvents: number };

/** The counters at one moment, or why the exposition has none of LMCache's. */
export function lmcacheSnapshot(exposition: string): LmcacheSnapshot | { missing: string } {
  let samples;
  try {
    samples = parsePrometheusText(exposition);
  } catch (error) {
    return { missing: (error as Error).message };
  }
  const usageRatio = maxOf(samples, LMCACHE_USAGE_RATIO);
  if (usageRatio === undefined) return { missing: `no ${LMCACHE_USAGE_RATIO} in its metrics` };
  const counter = (name: LmcacheCounterName) => sumOf(samples, LMCACHE_COUNTERS[name]) ?? 0;
  // OpenTelemetry exports a counter from its first increment on: one the server has not counted yet is absent.
  return {
    hitTokens: counter('hitTokens'),
    finishedStores: counter('finishedStores'),
    finishedRetrieves: counter('finishedRetrieves'),
    evictedChunks: counter('evictedChunks'),
    usageRatio,
    queuedEvents: sumOf(samples, LMCACHE_QUEUED_EVENTS) ?? 0,
  };
}

/** What happened between two snapshots, or why that cannot be told (the server restarted: counters went back). */
export function counterDeltas(before: LmcacheSnapshot, after: LmcacheSnapshot): LmcacheCounterDeltas | string {
  const names = Object.keys(LMCACHE_COUNTERS) as LmcacheCounterName[];
  const fallen = names.filter((name) => after[name] < before[name]);
  if (fallen.length > 0) {
    return `${fallen.map((name) => LMCACHE_COUNTERS[name]).join(', ')} went back (the server restarted during the run)`;
  }
  return {
    hitTokens: after.hitTokens - before.hitTokens,
    finishedStores: after.finishedStores - before.finishedStores,
    finishedRetrieves: after.finishedRetrieves - before.finishedRetrieves,
    evictedChunks: after.evictedChunks - before.evictedChunks,
    usageRatioAfter: after.usageRatio,
  };
}
