/**
 * Stage "health": this run's three containers run, both vLLM servers list the model in `GET /v1/models`, and
 * the LMCache server answers a `noop` of its MP protocol (in both profiles: the sim runs the real server). Polled
 * every POLL_INTERVAL_MS (the reference polled every 5 s, and only one server); fails at once with the log tail
 * when a container stops, and after MAX_WAIT_SECONDS otherwise.
 */
import { log } from '@temporalio/activity';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Role } from '../commands/containers.js';
import type { Config } from '../config/schema.js';
import { placedConfig, type PlacedStageInput } from '../placement/placement.js';
import { containersOf, type OwnedContainer } from '../docker/containers.js';
import { FailureType } from '../failures.js';
import { failWithLogTails } from './container-failure.js';
import { lmcacheAnswers, vllmServes } from './probes.js';
import { waitUntil } from './wait.js';

const POLL_INTERVAL_MS = 250;

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

export async function waitForHealth(input: PlacedStageInput): Promise<HealthResult> {
  const result = await waitUntilHealthy(input);
  // Kept for people and for scripts/bench-sim.sh: when each server was first seen healthy.
  await mkdir(input.config.resultsDir, { recursive: true });
  await writeFile(path.join(input.config.resultsDir, 'health.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** The health wait itself, shared with the servers check before a stage (./ensure-servers.ts). */
export async function waitUntilHealthy(input: PlacedStageInput): Promise<HealthResult> {
  const { workflowId } = input;
  const config = placedConfig(input.config, input.placement);
  const pending = new Map(healthTargets(config).map((target) => [target.role, target]));
  const healthy: ServerHealth[] = [];
  let byRole = new Map<Role | undefined, OwnedContainer>();
  return waitUntil({
    timeoutMs: config.maxWaitSeconds * 1000,
    intervalMs: POLL_INTERVAL_MS,
    look: async () => {
      byRole = new Map((await containersOf(workflowId)).map((c) => [c.role, c]));
      const missingOrStopped = [...pending.keys()].filter((role) => byRole.get(role)?.state !== 'running');
      if (missingOrStopped.length > 0) {
        const stopped = missingOrStopped
          .map((role) => byRole.get(role))
          .filter((c): c is OwnedContainer => c !== undefined);
        const names = missingOrStopped.map((role) => byRole.get(role)?.name ?? `${role} (no container)`);
        const summary = `container ${names.join(', ')} stopped before becoming healthy`;
        await failWithLogTails(FailureType.ContainerExited, summary, stopped);
      }
      const probes = await Promise.all(
        [...pending.values()].map(async (target) => ({
          target,
          ok:
            target.role === 'lmcache' ? await lmcacheAnswers(target.port) : await vllmServes(target.port, config.model),
        })),
      );
      for (const { target, ok } of probes) {
        if (!ok) continue;
        pending.delete(target.role);
        healthy.push({ role: target.role, port: target.port, healthyAt: Date.now() });
        log.info('server healthy', { role: target.role, port: target.port });
      }
      if (pending.size === 0) return { done: true, value: { servers: healthy, finishedAt: Date.now() } };
      return { done: false, waitingFor: [...pending.values()].map((t) => `${t.role}:${t.port}`) };
    },
    onTimeout: () => {
      const unhealthy = [...pending.keys()].map((role) => byRole.get(role)!);
      const described = unhealthy.map((c) => `${c.name} (${c.role}, port ${pending.get(c.role!)?.port})`).join(', ');
      return failWithLogTails(
        FailureType.ServersNotHealthy,
        `not healthy after MAX_WAIT_SECONDS=${config.maxWaitSeconds}: ${described}`,
        unhealthy,
      );
    },
  });
}
