/**
 * Starts the sim programs as child processes through their real command lines (port 0, read back from the
 * startup log line) and stops them after the tests. Shared by the sim-*.test.ts files.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import OpenAI from 'openai';
import { LmcacheClient } from '../../src/sim/lmcache-client.js';
import type { LmcacheStats } from '../../src/sim/lmcache-protocol.js';
import type { SimStatsBody } from '../../src/sim/vllm-server.js';

export const MODEL = 'sim/greedy-echo';
const VLLM_SCRIPT = fileURLToPath(new URL('../../src/sim/vllm-server.js', import.meta.url));
const LMCACHE_SCRIPT = fileURLToPath(new URL('../../src/sim/lmcache-server.js', import.meta.url));

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

function launch(script: string, argv: string[], env: Record<string, string>): SimProcess {
  const child = execa(process.execPath, [script, ...argv], {
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

/** Stops every process the harness started; call from `after()`. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((proc) => proc.stop()));
  running.clear();
}

/** Runs a program to its exit, for argv and environment checks. */
export async function runToExit(program: 'vllm' | 'lmcache', argv: string[], env: Record<string, string> = {}) {
  const proc = launch(program === 'vllm' ? VLLM_SCRIPT : LMCACHE_SCRIPT, argv, env);
  const { code } = await proc.exited;
  return { code, output: proc.output };
}

export interface LmcacheServer {
  proc: SimProcess;
  port: number;
  client: LmcacheClient;
  stats(): Promise<LmcacheStats>;
}

export async function startLmcache(
  options: { l1SizeGb?: number; env?: Record<string, string> } = {},
): Promise<LmcacheServer> {
  const argv = [
    '--l1-size-gb',
    String(options.l1SizeGb ?? 1),
    '--eviction-policy',
    'LRU',
    '--max-workers',
    '4',
    '--port',
    '0',
    // Any free port: several test servers run at once, and LMCache's default 9090 would be taken.
    '--prometheus-port',
    '0',
  ];
  const proc = launch(LMCACHE_SCRIPT, argv, options.env ?? {});
  const port = Number((await proc.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
  const client = new LmcacheClient('127.0.0.1', port);
  proc.exited.then(() => client.close());
  return { proc, port, client, stats: () => client.stats() };
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
  /** Resolves once no asynchronous LMCache store is in flight. */
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
  return launch(VLLM_SCRIPT, argv, options.env ?? {});
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
