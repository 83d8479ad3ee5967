/**
 * Starts the sim vLLM server as child processes through its real command line (port 0, read back from the startup
 * log line), and the real LMCache MP server in a container (./lmcache-server.ts), and stops them after the tests.
 * Shared by the sim-*.test.ts files.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import OpenAI from 'openai';
import type { SimStatsBody } from '../../src/sim/vllm-server.js';
import { startLmcacheServer, type TestLmcacheServer } from './lmcache-server.js';

export const MODEL = 'sim/greedy-echo';
const VLLM_SCRIPT = fileURLToPath(new URL('../../src/sim/vllm-server.js', import.meta.url));

export class SimProcess {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk) => (this.output += chunk));
    child.stderr!.on('data', (chunk) => (this.output += chunk));
    this.exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  }

  /** Resolves with the first match of `pattern` in the output, waiting up to `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (this.child.exitCode !== null) {
        throw new Error(`process exited (${this.child.exitCode}) before ${pattern}:\n${this.output}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${this.output}`);
      await sleep(20);
    }
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

const running = new Set<SimProcess>();
const lmcacheServers = new Set<TestLmcacheServer>();

function launch(argv: string[], env: Record<string, string>): SimProcess {
  const child = execa(process.execPath, [VLLM_SCRIPT, ...argv], {
    env: { SIM_DEFECT: 'none', SIM_STARTUP_SECONDS: '0', ...env },
    stdin: 'ignore',
    buffer: false,
    reject: false,
  });
  const proc = new SimProcess(child);
  running.add(proc);
  return proc;
}

export { freePort } from '../helpers/ports.js';

/** Stops every process and removes every LMCache container the harness started; call from `after()`. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((proc) => proc.stop()));
  running.clear();
  await Promise.all([...lmcacheServers].map((server) => server.remove()));
  lmcacheServers.clear();
}

/** Runs the sim vLLM server to its exit, for argv and environment checks. */
export async function runToExit(argv: string[], env: Record<string, string> = {}) {
  const proc = launch(argv, env);
  const { code } = await proc.exited;
  return { code, output: proc.output };
}

/** The real LMCache MP server (PyPI lmcache, the sim profile's image), removed by stopAll. */
export async function startLmcache(options: { l1SizeGb?: number } = {}): Promise<TestLmcacheServer> {
  const server = await startLmcacheServer(options);
  lmcacheServers.add(server);
  return server;
}

export function kvTransferConfig(lmcachePort: number): string {
  return JSON.stringify({
    kv_connector: 'LMCacheMPConnector',
    kv_role: 'kv_both',
    kv_connector_extra_config: { 'lmcache.mp.port': lmcachePort },
  });
}

export interface VllmServer {
  proc: SimProcess;
  port: number;
  url: string;
  openai: OpenAI;
  stats(): Promise<SimStats>;
  /** Resolves once no LMCache store is in flight. */
  storesSettled(): Promise<void>;
}

/** What GET /sim/stats answers (a type-only import: the server module runs when imported). */
export type SimStats = SimStatsBody;

export interface VllmOptions {
  lmcachePort?: number;
  gpuMemoryUtilization?: number;
  env?: Record<string, string>;
  /** Default 0: any free port. */
  port?: number;
}

/** Starts the vLLM-like server without waiting for it, for tests that watch it before it listens. */
export function launchVllm(options: VllmOptions = {}): SimProcess {
  const argv = [
    MODEL,
    ...(options.lmcachePort === undefined ? [] : ['--kv-transfer-config', kvTransferConfig(options.lmcachePort)]),
    '--attention-backend',
    'FLASH_ATTN',
    '--port',
    String(options.port ?? 0),
    '--no-async-scheduling',
    ...(options.gpuMemoryUtilization === undefined
      ? []
      : ['--gpu-memory-utilization', String(options.gpuMemoryUtilization)]),
  ];
  return launch(argv, options.env ?? {});
}

/** Waits until a launched server listens (and, unless told otherwise, is healthy). */
export async function connectVllm(proc: SimProcess, waitUntilHealthy = true): Promise<VllmServer> {
  const port = Number((await proc.waitFor(/Uvicorn running on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
  const url = `http://127.0.0.1:${port}`;
  if (waitUntilHealthy) await waitHealthy(url);
  const stats = async () => (await (await fetch(`${url}/sim/stats`)).json()) as SimStats;
  return {
    proc,
    port,
    url,
    openai: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sim', maxRetries: 0 }),
    stats,
    storesSettled: async () => {
      while ((await stats()).lmcache?.pendingStores) await sleep(10);
    },
  };
}

export function startVllm(options: VllmOptions = {}): Promise<VllmServer> {
  return connectVllm(launchVllm(options));
}

export async function waitHealthy(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/health`)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not become healthy`);
    await sleep(20);
  }
}

/** A prompt of exactly `tokens` tokens whose first token (and so every block key) is unique to `name`. */
export function longPrompt(name: string, tokens: number): string {
  return [name, ...Array.from({ length: tokens - 1 }, (_, i) => `w${i % 97}`)].join(' ');
}
