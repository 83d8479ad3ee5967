/** Readiness probes of the servers: a TCP port that accepts connections, an HTTP endpoint that answers 2xx. */
import { createConnection } from 'node:net';

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

export async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** vLLM is ready when `GET /health` answers, or, for builds without it, `GET /v1/models`. */
export async function vllmHealthy(port: number): Promise<boolean> {
  return (await httpOk(`http://127.0.0.1:${port}/health`)) || httpOk(`http://127.0.0.1:${port}/v1/models`);
}
