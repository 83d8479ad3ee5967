/**
 * Stage "launch": the LMCache server, then vLLM with LMCache and the baseline vLLM, as the reference
 * launches them (host network and IPC, NVIDIA runtime in the gpu profile). Idempotent: a retried launch
 * keeps its own running containers with the same image and settings, replaces its own stale ones, and
 * refuses to touch a container of the same name that belongs to another run.
 */
import { ApplicationFailure, cancellationSignal, heartbeat, log } from '@temporalio/activity';
import { mkdir } from 'node:fs/promises';
import { LABEL_WORKFLOW_ID, containerSpecs, type ContainerSpec, type LaunchPlan } from '../commands/containers.js';
import { docker, isNotFound } from '../docker/client.js';
import { containersOf } from '../docker/containers.js';
import { containerCreateOptions, SPEC_HASH_LABEL } from '../docker/create-options.js';
import { FailureType } from '../failures.js';
import { LMCACHE_DEFAULT_PROMETHEUS_PORT, placedConfig, type PlacedStageInput } from '../placement/placement.js';
import { containerLogDir, failWithLogTails } from './container-failure.js';
import { describePortHolder } from './port-holder.js';
import { ensureLmcacheServerImage } from './lmcache-server-image.js';
import { lmcacheEndpoints, portAccepts, probeLmcache, type LmcacheEndpoints } from './probes.js';
import { resolveNodePath } from '../node-paths.js';
import { waitUntil } from './wait.js';

/** The reference gives the LMCache server a bare 10 s; we wait for its port instead, up to this long. */
const LMCACHE_START_TIMEOUT_MS = 60_000;
const LMCACHE_POLL_INTERVAL_MS = 200;

export type LaunchInput = PlacedStageInput;

export interface LaunchedContainer {
  role: ContainerSpec['role'];
  name: string;
  id: string;
  reused: boolean;
}

/**
 * An attempt that was cancelled or timed out must not create a container after cleanup (or the next attempt)
 * listed them: each Docker call is preceded by a heartbeat, which is how cancellation reaches the activity.
 */
function stopIfCancelled(step: string): void {
  heartbeat({ launching: step });
  const signal = cancellationSignal();
  if (signal.aborted) throw signal.reason ?? new Error(`launch cancelled before ${step}`);
}

/**
 * HF_TOKEN (gated models) comes from the worker node's environment straight into the vLLM containers: never
 * in the spec (whose fingerprint is a label), the workflow input, a result or a log.
 */
function withNodeSecrets(options: ReturnType<typeof containerCreateOptions>, spec: ContainerSpec) {
  const token = process.env.HF_TOKEN;
  if (!token || spec.role === 'lmcache') return options;
  return { ...options, Env: [...options.Env, `HF_TOKEN=${token}`] };
}

/** Creates and starts the container, or reuses this run's identical running one. */
async function ensureContainer(spec: ContainerSpec, workflowId: string): Promise<LaunchedContainer> {
  const options = containerCreateOptions(spec);
  stopIfCancelled(`inspect ${spec.name}`);
  const existing = docker().getContainer(spec.name);
  try {
    const info = await existing.inspect();
    const owner = info.Config.Labels?.[LABEL_WORKFLOW_ID];
    if (owner !== workflowId) {
      throw ApplicationFailure.create({
        type: FailureType.ContainerNameConflict,
        message: `container ${spec.name} exists and belongs to ${owner ? `workflow ${owner}` : 'no pipeline run'}; not touching it`,
      });
    }
    if (info.State.Running && info.Config.Labels?.[SPEC_HASH_LABEL] === options.Labels[SPEC_HASH_LABEL]) {
      return { role: spec.role, name: spec.name, id: info.Id, reused: true };
    }
    stopIfCancelled(`replace ${spec.name}`);
    await existing.remove({ force: true });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  stopIfCancelled(`create ${spec.name}`);
  const container = await docker().createContainer(withNodeSecrets(options, spec));
  stopIfCancelled(`start ${spec.name}`);
  await container.start();
  return { role: spec.role, name: spec.name, id: container.id, reused: false };
}

/**
 * Waits until the LMCache server answers a `noop` over its protocol, failing at once if its container stops. The
 * container's state is read before the port, so no other program can pass for a server that died on startup.
 */
async function waitForLmcache(
  launched: LaunchedContainer,
  endpoints: LmcacheEndpoints,
  resultsDir: string,
): Promise<void> {
  const { port } = endpoints;
  let last = '';
  await waitUntil({
    timeoutMs: LMCACHE_START_TIMEOUT_MS,
    intervalMs: LMCACHE_POLL_INTERVAL_MS,
    look: async () => {
      const state = (await docker().getContainer(launched.id).inspect()).State;
      if (!state.Running) {
        await failWithLogTails(
          FailureType.ContainerExited,
          `container ${launched.name} (lmcache) exited with code ${state.ExitCode} before listening on port ${port}`,
          [{ id: launched.id, name: launched.name, state: state.Status }],
          containerLogDir(resultsDir),
        );
      }
      const probe = await probeLmcache(endpoints);
      if (probe.ready) {
        log.info('LMCache server ready', { container: launched.name, probe: probe.decidedBy });
        return { done: true, value: undefined };
      }
      last = probe.decidedBy;
      return { done: false, waitingFor: `${launched.name} on port ${port} (${last})` };
    },
    onTimeout: () => {
      throw new Error(
        `LMCache server ${launched.name} is not ready on port ${port} after ${LMCACHE_START_TIMEOUT_MS / 1000} s (${last})`,
      );
    },
  });
}

/**
 * Before anything is created: each server's port is free, or held by this run's own running container for that
 * role (a relaunch). Anything else answering there would pass the health wait for our server: fail at once.
 */
async function checkPortsFree(specs: ContainerSpec[], workflowId: string): Promise<void> {
  const own = new Map((await containersOf(workflowId)).map((container) => [container.role, container]));
  for (const spec of specs) {
    if (own.get(spec.role)?.state === 'running') continue;
    if (!(await portAccepts(spec.port))) continue;
    const holder = await describePortHolder(spec.port);
    throw ApplicationFailure.create({
      type: FailureType.PortInUse,
      message: `port ${spec.port} (${spec.role}) is already in use by ${holder ?? 'a process this worker cannot see'}, not by this run's container; stop it or choose another port`,
      nonRetryable: true,
    });
  }
}

export async function launchContainers(input: LaunchInput): Promise<{ containers: LaunchedContainer[] }> {
  const { workflowId, placement } = input;
  const config = placedConfig(input.config, placement);
  const hfCacheDir = resolveNodePath(config.hfCacheDir);
  await mkdir(hfCacheDir, { recursive: true });
  const gpus = placement?.gpus;
  const plan: LaunchPlan = {
    workflowId,
    hfCacheDir,
    gpus: gpus && { withLmcache: gpus.withLmcache, baseline: gpus.baseline },
    gpuMemoryUtilization: gpus?.gpuMemoryUtilization,
    ...(config.lmcacheServerModule === 'server'
      ? { prometheusPort: placement?.ports.prometheus ?? LMCACHE_DEFAULT_PROMETHEUS_PORT }
      : {}),
    // Made by the build stage; here too, for runs whose STAGES skip it (at once when it exists).
    ...(config.profile === 'sim'
      ? { lmcacheImage: await ensureLmcacheServerImage((step) => heartbeat({ step })) }
      : {}),
  };
  const specs = containerSpecs(config, plan);
  await checkPortsFree(specs, workflowId);
  const [lmcacheSpec, ...vllmSpecs] = specs;
  const lmcache = await ensureContainer(lmcacheSpec, workflowId);
  heartbeat({ started: lmcache.name });
  await waitForLmcache(lmcache, lmcacheEndpoints(input.config, placement), config.resultsDir);
  const servers: LaunchedContainer[] = [];
  for (const spec of vllmSpecs) servers.push(await ensureContainer(spec, workflowId));
  for (const container of [lmcache, ...servers]) {
    log.info('container up', { role: container.role, container: container.name, reused: container.reused });
  }
  return { containers: [lmcache, ...servers] };
}
