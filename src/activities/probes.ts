/**
 * Readiness probes of the servers: a TCP port that accepts connections, an HTTP endpoint that answers 2xx, the
 * LMCache MP server's own protocol, its HTTP frontend and its metrics.
 */
import { createConnection } from 'node:net';
import type { Config } from '../config/schema.js';
import { LmcacheMpClient } from '../lmcache-mp/client.js';
import { lmcacheMetricsPort, placedConfig, type RunPlacement } from '../placement/placement.js';
import { readLmcacheCounters } from './lmcache-metrics.js';

const PROBE_TIMEOUT_MS = 2000;

export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port, timeout: PROBE_TIMEOUT_MS });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** Whether the LMCache server is ready, and which probe decided it (and what it saw), for the stage's detail. */
export interface LmcacheProbe {
  ready: boolean;
  decidedBy: string;
}

/** The ports an LMCache probe uses: the run's, as placed. */
export interface LmcacheEndpoints {
  module: Config['lmcacheServerModule'];
  port: number;
  httpPort: number;
  metricsPort: number;
}

export function lmcacheEndpoints(config: Config, placement: RunPlacement | undefined): LmcacheEndpoints {
  const placed = placedConfig(config, placement);
  return {
    module: config.lmcacheServerModule,
    port: placed.lmcachePort,
    httpPort: placed.lmcacheHttpPort,
    metricsPort: lmcacheMetricsPort(config, placement),
  };
}

/**
 * `http_server`: its own health endpoint, `GET /healthcheck` answering `{"status": "healthy"}` once its cache
 * engine is up (lmcache 0.5.6, http_apis/info_api.py). `server`: a `noop` over its MP protocol (ZMQ + msgpack);
 * when that gets no answer or an unexpected one while the port accepts connections (our TypeScript copy of the
 * protocol may lag a checkout whose protocol moved), its Prometheus metrics decide: its `lmcache_mp_*` gauges
 * are there once it runs. A port that merely accepts connections decides nothing: it may be another program's.
 */
export async function probeLmcache(endpoints: LmcacheEndpoints): Promise<LmcacheProbe> {
  if (endpoints.module === 'http_server') {
    const url = `http://127.0.0.1:${endpoints.httpPort}/healthcheck`;
    const decided = (ready: boolean, saw: string) => ({ ready, decidedBy: `GET ${url}: ${saw}` });
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      const body = await response.text();
      const healthy = response.ok && (JSON.parse(body) as { status?: unknown }).status === 'healthy';
      return decided(healthy, `${response.status} ${body.slice(0, 80)}`);
    } catch (error) {
      return decided(false, describeError(error));
    }
  }
  const noop = await noopAnswer(endpoints.port);
  if (noop === 'OK') return { ready: true, decidedBy: 'noop: OK' };
  if (!(await portAccepts(endpoints.port))) return { ready: false, decidedBy: `noop: ${noop}` };
  const counters = await readLmcacheCounters(endpoints.metricsPort);
  return 'unavailable' in counters
    ? { ready: false, decidedBy: `noop: ${noop}; ${counters.unavailable}` }
    : {
        ready: true,
        decidedBy: `metrics at 127.0.0.1:${endpoints.metricsPort} (lmcache_mp_* present), as noop got ${noop}`,
      };
}

/** `OK`, or what came instead. */
async function noopAnswer(port: number): Promise<string> {
  const client = new LmcacheMpClient(`tcp://127.0.0.1:${port}`, PROBE_TIMEOUT_MS);
  try {
    const answer = await client.noop();
    return answer === 'OK' ? 'OK' : `unexpected answer ${JSON.stringify(answer)}`;
  } catch (error) {
    return `no answer (${(error as Error).message})`;
  } finally {
    client.close();
  }
}

function describeError(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ?? (error as Error).message;
}

/**
 * vLLM is ready when `GET /v1/models` lists the model it should serve: any other program answering on the
 * port (another run's server, a different model) does not pass for it.
 */
export async function vllmServes(port: number, model: string): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/v1/models`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    if (!response.ok) return false;
    const body = (await response.json()) as { data?: { id?: unknown }[] };
    return Array.isArray(body.data) && body.data.some((entry) => entry.id === model);
  } catch {
    return false;
  }
}

/** POSTs to a server route and fails naming it unless it answers 2xx. */
export async function httpPost(url: string, timeoutMs = PROBE_TIMEOUT_MS * 5): Promise<void> {
  const response = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(timeoutMs) });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}`);
}
