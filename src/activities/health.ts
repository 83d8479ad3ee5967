/**
 * Stage "health": both vLLM servers answer `GET /health` (or `GET /v1/models`) and the LMCache port accepts
 * connections. Polled every POLL_INTERVAL_MS (the reference polled every 5 s, and only one server); fails at
 * once with the log tail when a container stops, and after MAX_WAIT_SECONDS otherwise.
 */
import { heartbeat, sleep } from '@temporalio/activity';
import { mkdir, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import path from 'node:path';
import type { Role } from '../commands/containers.js';
import type { Config } from '../config/schema.js';
import { FailureType } from '../failures.js';
import { containersOf, failWithLogTails, type OwnedContainer } from './docker.js';

const POLL_INTERVAL_MS = 250;
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

async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

async function vllmHealthy(port: number): Promise<boolean> {
  return (await httpOk(`http://127.0.0.1:${port}/health`)) || httpOk(`http://127.0.0.1:${port}/v1/models`);
}

export interface HealthTarget {
  role: Role;
  port: number;
}

export function healthTargets(config: Config): HealthTarget[] {
  return [
    { role: 'lmcache', port: config.lmcachePort },
    { role: 'vllm', port: config.vllmPort },
    { role: 'baseline', port: config.vllmBaselinePort },
  ];
}

export interface ServerHealth {
  role: Role;
  port: number;
  /** Epoch milliseconds of the first successful probe. */
  healthyAt: number;
}

export interface HealthResult {
  servers: ServerHealth[];
  /** Epoch milliseconds when the wait ended: with healthyAt, how late readiness was noticed. */
  finishedAt: number;
}

export async function waitForHealth(input: { config: Config; workflowId: string }): Promise<HealthResult> {
  const { config, workflowId } = input;
  const started = Date.now();
  const deadline = started + config.maxWaitSeconds * 1000;
  const pending = new Map(healthTargets(config).map((target) => [target.role, target]));
  const healthy: ServerHealth[] = [];
  for (;;) {
    const containers = await containersOf(workflowId);
    const byRole = new Map(containers.map((c) => [c.role, c]));
    const missingOrStopped = [...pending.keys()].filter((role) => byRole.get(role)?.state !== 'running');
    if (missingOrStopped.length > 0) {
      const stopped = missingOrStopped.map((role) => byRole.get(role)).filter((c): c is OwnedContainer => c !== undefined);
      const names = missingOrStopped.map((role) => byRole.get(role)?.name ?? `${role} (no container)`);
      await failWithLogTails(FailureType.ContainerExited, `container ${names.join(', ')} stopped before becoming healthy`, stopped);
    }
    const probes = await Promise.all(
      [...pending.values()].map(async (target) => ({
        target,
        ok: target.role === 'lmcache' ? await portAccepts(target.port) : await vllmHealthy(target.port),
      })),
    );
    for (const { target, ok } of probes) {
      if (!ok) continue;
      pending.delete(target.role);
      healthy.push({ role: target.role, port: target.port, healthyAt: Date.now() });
    }
    if (pending.size === 0) {
      const result = { servers: healthy, finishedAt: Date.now() };
      // Kept for people and for scripts/bench-sim.sh: when each server was first seen healthy.
      await mkdir(config.resultsDir, { recursive: true });
      await writeFile(path.join(config.resultsDir, 'health.json'), `${JSON.stringify(result, null, 2)}\n`);
      return result;
    }
    const waitedSeconds = Math.round((Date.now() - started) / 1000);
    if (Date.now() >= deadline) {
      const unhealthy = [...pending.keys()].map((role) => byRole.get(role)!);
      await failWithLogTails(
        FailureType.ServersNotHealthy,
        `not healthy after MAX_WAIT_SECONDS=${config.maxWaitSeconds}: ${unhealthy.map((c) => `${c.name} (${c.role}, port ${pending.get(c.role!)?.port})`).join(', ')}`,
        unhealthy,
      );
    }
    heartbeat({ waitedSeconds, waitingFor: [...pending.values()].map((t) => `${t.role}:${t.port}`) });
    await sleep(POLL_INTERVAL_MS);
  }
}
