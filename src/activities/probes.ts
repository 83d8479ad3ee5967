/**
 * Readiness probes of the servers: a TCP port that accepts connections, an HTTP endpoint that answers 2xx, the
 * LMCache MP server's own protocol.
 */
import { createConnection } from 'node:net';
import { LmcacheMpClient } from '../lmcache-mp/client.js';

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

/**
 * LMCache's MP server is ready when it answers a `noop` over its own protocol (ZMQ + msgpack): a port that
 * accepts connections may belong to a server still setting up, or to another program.
 */
export async function lmcacheAnswers(port: number): Promise<boolean> {
  const client = new LmcacheMpClient(`tcp://127.0.0.1:${port}`, PROBE_TIMEOUT_MS);
  try {
    return (await client.noop()) === 'OK';
  } catch {
    return false;
  } finally {
    client.close();
  }
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
export async function httpPost(url: string): Promise<void> {
  const response = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS * 5) });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}`);
}
