/**
 * Reads the run's LMCache counters from its Prometheus exporter before and after a benchmark run, and the figures
 * the evidence checks size their limits by (LMCache's chunk size, vLLM's KV cache). A server that cannot be read
 * never fails the stage: the report says why, and the evidence checks that needed the figure fail naming it. No
 * number is guessed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from '@temporalio/activity';
import { LmcacheMpClient } from '../lmcache-mp/client.js';
import { counterDeltas, lmcacheSnapshot, sameCounters, type LmcacheSnapshot } from '../metrics/lmcache-counters.js';
import { vllmKvCache, type VllmKvCache } from '../metrics/vllm-cache-config.js';
import type { Config } from '../config/schema.js';
import type { RunPlacement } from '../placement/placement.js';
import type { LmcacheCounterReading } from '../report/types.js';
import type { Known } from '../verification/lmcache-evidence.js';
import { lmcacheEndpoints } from './probes.js';

/** A local exporter answers in milliseconds; a benchmark must not wait long on one that hangs. */
export const METRICS_TIMEOUT_MS = 2000;
/** How long the reading after a run waits for the server to count what the run did. */
const DRAIN_WAIT_MS = 5000;
const DRAIN_POLL_MS = 100;
/**
 * How long the counters must stand still to count as settled: vLLM's connector may still be sending a store
 * after the last answer (a loaded 2-core machine has been seen to miss one of 12 at 200 ms).
 */
const QUIET_MS = 1000;

function describeFetchError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${METRICS_TIMEOUT_MS} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  return cause?.message ?? (error as Error).message;
}

/** `server`'s Prometheus metrics on `port`, read by `parse`, or the sentence that says why they cannot be had. */
async function readMetrics<T extends object>(
  server: string,
  port: number,
  parse: (exposition: string) => T | { missing: string },
): Promise<Known<T>> {
  const unreachable = (reason: string) => ({
    unavailable: `${server} metrics not reachable at 127.0.0.1:${port}: ${reason}`,
  });
  let text: string;
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
      signal: AbortSignal.timeout(METRICS_TIMEOUT_MS),
    });
    text = await response.text();
    if (!response.ok) return unreachable(`HTTP ${response.status} ${response.statusText}`.trim());
  } catch (error) {
    return unreachable(describeFetchError(error));
  }
  const parsed = parse(text);
  return 'missing' in parsed ? unreachable(parsed.missing) : parsed;
}

/** The counters now, or the sentence that says why they cannot be had. */
export function readLmcacheCounters(port: number): Promise<Known<LmcacheSnapshot>> {
  return readMetrics('LMCache', port, lmcacheSnapshot);
}

/** vLLM's KV cache (`vllm:cache_config_info` of its /metrics; the sim's server exports the same). */
export function readVllmKvCache(port: number): Promise<Known<VllmKvCache>> {
  return readMetrics('vLLM', port, vllmKvCache);
}

/**
 * The tokens per chunk of the run's LMCache server: from `http_server`'s `GET /status` (its engine's `chunk_size`),
 * so GPU nodes need no copy of LMCache's wire protocol; from `server` through that protocol, which is all it has.
 */
export async function readChunkTokens(config: Config, placement: RunPlacement | undefined): Promise<Known<number>> {
  const { module, port, httpPort } = lmcacheEndpoints(config, placement);
  if (module === 'http_server') {
    const url = `http://127.0.0.1:${httpPort}/status`;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) });
      if (!response.ok) return { unavailable: `LMCache's chunk size not read: GET ${url} answered ${response.status}` };
      const chunkSize = ((await response.json()) as { chunk_size?: unknown }).chunk_size;
      if (typeof chunkSize === 'number' && Number.isInteger(chunkSize) && chunkSize > 0) return chunkSize;
      return { unavailable: `LMCache's chunk size not read: GET ${url} has no chunk_size` };
    } catch (error) {
      return { unavailable: `LMCache's chunk size not read: GET ${url}: ${describeFetchError(error)}` };
    }
  }
  const client = new LmcacheMpClient(`tcp://127.0.0.1:${port}`, METRICS_TIMEOUT_MS);
  try {
    return await client.chunkSize();
  } catch (error) {
    return { unavailable: `LMCache's chunk size not read at 127.0.0.1:${port}: ${(error as Error).message}` };
  } finally {
    client.close();
  }
}

/**
 * Runs `body` (one benchmark run against vLLM with LMCache) between two readings of the counters, and adds what
 * they show to `readings`.
 */
export async function countingLmcache<T>(
  port: number,
  run: string,
  readings: LmcacheCounterReading[],
  body: () => Promise<T>,
): Promise<T> {
  const { result, reading } = await readingAround(port, run, body);
  if (reading.unavailable) log.warn('LMCache counters not read', { run, reason: reading.unavailable });
  readings.push(reading);
  return result;
}

/** What the counters did while `body` ran: read right before it and once they settled after it. */
export async function readingAround<T>(
  port: number,
  run: string,
  body: () => Promise<T>,
): Promise<{ result: T; reading: LmcacheCounterReading }> {
  const before = await readLmcacheCounters(port);
  const result = await body();
  return { result, reading: readingOf(run, before, await readDrainedCounters(port)) };
}

/**
 * The counters once they have settled: the server's queued events counted and nothing counted for QUIET_MS, since
 * vLLM stores a request's KV after answering it (the evidence counts every store); or as they stand after
 * DRAIN_WAIT_MS.
 */
async function readDrainedCounters(port: number): Promise<Known<LmcacheSnapshot>> {
  const deadline = Date.now() + DRAIN_WAIT_MS;
  let still: { snapshot: LmcacheSnapshot; since: number } | undefined;
  for (;;) {
    const snapshot = await readLmcacheCounters(port);
    const now = Date.now();
    if ('unavailable' in snapshot || now >= deadline) return snapshot;
    if (!still || snapshot.queuedEvents > 0 || !sameCounters(still.snapshot, snapshot))
      still = { snapshot, since: now };
    else if (now - still.since >= QUIET_MS) return snapshot;
    await sleep(DRAIN_POLL_MS);
  }
}

function readingOf(run: string, before: Known<LmcacheSnapshot>, after: Known<LmcacheSnapshot>): LmcacheCounterReading {
  if ('unavailable' in before) return { run, unavailable: before.unavailable };
  if ('unavailable' in after) return { run, unavailable: after.unavailable };
  const deltas = counterDeltas(before, after);
  return typeof deltas === 'string'
    ? { run, unavailable: `LMCache counters not comparable: ${deltas}` }
    : { run, deltas };
}
