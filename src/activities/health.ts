/**
 * Stage "health": this run's three containers run, both vLLM servers list the model in `GET /v1/models`, and
 * the LMCache server is ready by its own probe (./probes.ts: its HTTP health endpoint with `http_server`; a `noop`
 * of its MP protocol, or its metrics, with `server`; in both profiles: the sim runs the real server). Each
 * server's entry says which probe decided it. Polled every POLL_INTERVAL_MS (the reference polled every 5 s, and
 * only one server); fails at once with the log tail when a container stops, and after MAX_WAIT_SECONDS otherwise.
 */
import { log } from '@temporalio/activity';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Role } from '../commands/containers.js';
import type { Config } from '../config/schema.js';
import { placedConfig, type PlacedStageInput } from '../placement/placement.js';
import { containersOf, type OwnedContainer } from '../docker/containers.js';
import { FailureType } from '../failures.js';
import { containerLogDir, failWithLogTails } from './container-failure.js';
import { lmcacheEndpoints, probeLmcache, vllmServes, type LmcacheProbe } from './probes.js';
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
  /** The probe that decided it, and what it saw. */
  probe: string;
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
  const lmcache = lmcacheEndpoints(input.config, input.placement);
  const pending = new Map(healthTargets(config).map((target) => [target.role, target]));
  const probe = async (target: HealthTarget): Promise<LmcacheProbe> =>
    target.role === 'lmcache'
      ? probeLmcache(lmcache)
      : {
          ready: await vllmServes(target.port, config.model),
          decidedBy: `GET /v1/models on port ${target.port} lists ${config.model}`,
        };
  let lastLmcacheProbe = '';
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
        await failWithLogTails(FailureType.ContainerExited, summary, stopped, containerLogDir(config.resultsDir));
      }
      const probes = await Promise.all(
        [...pending.values()].map(async (target) => ({ target, result: await probe(target) })),
      );
      for (const { target, result } of probes) {
        if (target.role === 'lmcache') lastLmcacheProbe = result.decidedBy;
        if (!result.ready) continue;
        pending.delete(target.role);
        healthy.push({ role: target.role, port: target.port, healthyAt: Date.now(), probe: result.decidedBy });
        log.info('server healthy', { role: target.role, port: target.port, probe: result.decidedBy });
      }
      if (pending.size === 0) return { done: true, value: { servers: healthy, finishedAt: Date.now() } };
      return {
        done: false,
        waitingFor: [...pending.values()].map((t) =>
          t.role === 'lmcache' ? `lmcache:${t.port} (${lastLmcacheProbe})` : `${t.role}:${t.port}`,
        ),
      };
    },
    onTimeout: () => {
      const unhealthy = [...pending.keys()].map((role) => byRole.get(role)!);
      const described = unhealthy
        .map((c) => {
          const seen = c.role === 'lmcache' ? `; ${lastLmcacheProbe}` : '';
          return `${c.name} (${c.role}, port ${pending.get(c.role!)?.port}${seen})`;
        })
        .join(', ');
      return failWithLogTails(
        FailureType.ServersNotHealthy,
        `not healthy after MAX_WAIT_SECONDS=${config.maxWaitSeconds}: ${described}`,
        unhealthy,
        containerLogDir(config.resultsDir),
      );
    },
  });
}
