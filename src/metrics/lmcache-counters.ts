/**
 * LMCache MP server's own counters, as its Prometheus exporter shows them, and what one benchmark run made them
 * do (after minus before). Pure: the reading over HTTP is in src/activities/lmcache-metrics.ts.
 */
import type { LmcacheCounterDeltas } from '../report/types.js';
import { maxOf, parsePrometheusText, sumOf } from './prometheus-text.js';

/** The counters reported, by the names the server (lmcache 0.5.6, OpenTelemetry's exporter) gives them. */
export const LMCACHE_COUNTERS = {
  lookups: 'lmcache_mp_lookups_requests_total',
  hitTokens: 'lmcache_mp_lookup_hit_tokens_total',
  finishedStores: 'lmcache_mp_num_finished_stores_total',
  /** Chunks a store put into L1: what the server holds afterwards. */
  l1WrittenChunks: 'lmcache_mp_l1_write_chunks_total',
  finishedRetrieves: 'lmcache_mp_num_finished_retrieves_total',
  l1ReadChunks: 'lmcache_mp_l1_read_chunks_total',
  /** Chunks retrieves delivered into vLLM's KV cache: what LMCache served, where a lookup hit only promises it. */
  chunksLoaded: 'lmcache_mp_num_chunks_loaded_total',
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
const COUNTER_NAMES = Object.keys(LMCACHE_COUNTERS) as LmcacheCounterName[];
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
  const counters = Object.fromEntries(COUNTER_NAMES.map((name) => [name, counter(name)]));
  return {
    ...(counters as Record<LmcacheCounterName, number>),
    usageRatio,
    queuedEvents: sumOf(samples, LMCACHE_QUEUED_EVENTS) ?? 0,
  };
}

/** Whether nothing was counted between two snapshots. */
export function sameCounters(a: LmcacheSnapshot, b: LmcacheSnapshot): boolean {
  return COUNTER_NAMES.every((name) => a[name] === b[name]);
}

/** What happened between two snapshots, or why that cannot be told (the server restarted: counters went back). */
export function counterDeltas(before: LmcacheSnapshot, after: LmcacheSnapshot): LmcacheCounterDeltas | string {
  const fallen = COUNTER_NAMES.filter((name) => after[name] < before[name]);
  if (fallen.length > 0) {
    return `${fallen.map((name) => LMCACHE_COUNTERS[name]).join(', ')} went back (the server restarted during the run)`;
  }
  const deltas = Object.fromEntries(COUNTER_NAMES.map((name) => [name, after[name] - before[name]]));
  return { ...(deltas as Record<LmcacheCounterName, number>), usageRatioAfter: after.usageRatio };
}
