/**
 * Reads the run's LMCache counters from its Prometheus exporter before and after a benchmark run. The counters
 * are for people reading the report: a server that cannot be read is said so in the report and never fails
 * the stage, and no number is guessed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from '@temporalio/activity';
import { counterDeltas, lmcacheSnapshot, type LmcacheSnapshot } from '../metrics/lmcache-counters.js';
import { LMCACHE_DEFAULT_PROMETHEUS_PORT, type RunPlacement } from '../placement/placement.js';
import type { LmcacheCounterReading } from '../report/types.js';

/** A local exporter answers in milliseconds; a benchmark must not wait long on one that hangs. */
export const METRICS_TIMEOUT_MS = 2000;
/** How long the reading after a run waits for the server's event bus to count what the run did. */
const DRAIN_WAIT_MS = 3000;
const DRAIN_POLL_MS = 100;

/** The port launch gave `--prometheus-port`: the leased one, or LMCache's default for runs before leases. */
export function lmcacheMetricsPort(placement: RunPlacement | undefined): number {
  return placement?.ports.prometheus ?? LMCACHE_DEFAULT_PROMETHEUS_PORT;
}

function describeFetchError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${METRICS_TIMEOUT_MS} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  return cause?.message ?? (error as Error).message;
}

/** The counters now, or the sentence that says why they cannot be had. */
export async function readLmcacheCounters(port: number): Promise<LmcacheSnapshot | { unavailable: string }> {
  const url = `http://127.0.0.1:${port}/metrics`;
  const unreachable = (reason: string) => ({
    unavailable: `LMCache metrics not reachable at 127.0.0.1:${port}: ${reason}`,
  });
  let text: string;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) });
    text = await response.text();
    if (!response.ok) return unreachable(`HTTP ${response.status} ${response.statusText}`.trim());
  } catch (error) {
    return unreachable(describeFetchError(error));
  }
  const snapshot = lmcacheSnapshot(text);
  return 'missing' in snapshot ? unreachable(snapshot.missing) : snapshot;
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
  const before = await readLmcacheCounters(port);
  const result = await body();
  const reading = readingOf(run, before, await readDrainedCounters(port));
  if (reading.unavailable) log.warn('LMCache counters not read', { run, reason: reading.unavailable });
  readings.push(reading);
  return result;
}

/** The counters once the server's queued events are counted, or as they stand after DRAIN_WAIT_MS. */
async function readDrainedCounters(port: number): Promise<LmcacheSnapshot | { unavailable: string }> {
  const deadline = Date.now() + DRAIN_WAIT_MS;
  for (;;) {
    const snapshot = await readLmcacheCounters(port);
    if ('unavailable' in snapshot || snapshot.queuedEvents === 0 || Date.now() >= deadline) return snapshot;
    await sleep(DRAIN_POLL_MS);
  }
}

function readingOf(
  run: string,
  before: LmcacheSnapshot | { unavailable: string },
  after: LmcacheSnapshot | { unavailable: string },
): LmcacheCounterReading {
  if ('unavailable' in before) return { run, unavailable: before.unavailable };
  if ('unavailable' in after) return { run, unavailable: after.unavailable };
  const deltas = counterDeltas(before, after);
  return typeof deltas === 'string'
    ? { run, unavailable: `LMCache counters not comparable: ${deltas}` }
    : { run, deltas };
}
