/**
 * Stage "launch": the LMCache server, then vLLM with LMCache and the baseline vLLM, as the reference
 * launches them (host network and IPC, NVIDIA runtime in the gpu profile). Idempotent: a retried launch
 * keeps its own running containers with the same image and settings, replaces its own stale ones, and
 * refuses to touch a container of the same name that belongs to another run.
 */
import { ApplicationFailure, heartbeat, sleep } from '@temporalio/activity';
import { mkdir } from 'node:fs/promises';
import { LABEL_WORKFLOW_ID, containerSpecs, type ContainerSpec, type LaunchPlan } from '../commands/containers.js';
import type { Config } from '../config/schema.js';
import { FailureType } from '../failures.js';
import type { GpuSelection } from './gpu.js';
import { docker, failWithLogTails, isNotFound } from './docker.js';
import { portAccepts } from './health.js';
import { resolveNodePath } from './stage.js';

/** The reference gives the LMCache server a bare 10 s; we wait for its port instead, up to this long. */
const LMCACHE_START_TIMEOUT_MS = 60_000;
const SPEC_HASH_LABEL = 'org.lmcache.mp-test.spec';

export interface LaunchInput {
  config: Config;
  workflowId: string;
  gpus?: GpuSelection;
}

export interface LaunchedContainer {
  role: ContainerSpec['role'];
  name: string;
  id: string;
  reused: boolean;
}

/** The dockerode create options of a container: `docker run --network host --ipc host [--runtime nvidia --gpus …]`. */
export function containerCreateOptions(spec: ContainerSpec) {
  return {
    name: spec.name,
    Image: spec.image,
    ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
    Cmd: spec.cmd,
    Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
    // A fingerprint of the settings lets a retried launch tell its own up-to-date container from a stale one.
    Labels: { ...spec.labels, [SPEC_HASH_LABEL]: JSON.stringify([spec.image, spec.entrypoint, spec.cmd, spec.env, spec.gpus]) },
    HostConfig: {
      NetworkMode: 'host',
      IpcMode: 'host',
      Binds: spec.binds,
      ...(spec.gpus.length > 0
        ? {
            Runtime: 'nvidia',
            DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: spec.gpus.map(String), Capabilities: [['gpu']] }],
          }
        : {}),
    },
  };
}

/** Creates and starts the container, or reuses this run's identical running one. */
async function ensureContainer(spec: ContainerSpec, workflowId: string): Promise<LaunchedContainer> {
  const options = containerCreateOptions(spec);
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
    await existing.remove({ force: true });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const container = await docker().createContainer(options);
  await container.start();
  return { role: spec.role, name: spec.name, id: container.id, reused: false };
}

/**
 * Waits for the LMCache server's port, failing at once if its container stops. The container's state is read
 * before the port, so a port held by some other process cannot pass for a server that died on startup.
 */
async function waitForLmcache(launched: LaunchedContainer, port: number): Promise<void> {
  const deadline = Date.now() + LMCACHE_START_TIMEOUT_MS;
  for (;;) {
    const state = (await docker().getContainer(launched.id).inspect()).State;
    if (!state.Running) {
      await failWithLogTails(
        FailureType.ContainerExited,
        `container ${launched.name} (lmcache) exited with code ${state.ExitCode} before listening on port ${port}`,
        [{ id: launched.id, name: launched.name, state: state.Status }],
      );
    }
    if (await portAccepts(port)) return;
    if (Date.now() > deadline) {
      throw new Error(`LMCache server ${launched.name} is not listening on port ${port} after ${LMCACHE_START_TIMEOUT_MS / 1000} s`);
    }
    heartbeat({ waitingFor: `${launched.name} on port ${port}` });
    await sleep(200);
  }
}

export async function launchContainers(input: LaunchInput): Promise<{ containers: LaunchedContainer[] }> {
  const { config, workflowId, gpus } = input;
  const hfCacheDir = resolveNodePath(config.hfCacheDir);
  await mkdir(hfCacheDir, { recursive: true });
  const plan: LaunchPlan = {
    workflowId,
    hfCacheDir,
    gpus: gpus && { withLmcache: gpus.withLmcache, baseline: gpus.baseline },
    gpuMemoryUtilization: gpus?.gpuMemoryUtilization,
  };
  const [lmcacheSpec, ...vllmSpecs] = containerSpecs(config, plan);
  const lmcache = await ensureContainer(lmcacheSpec, workflowId);
  heartbeat({ started: lmcache.name });
  await waitForLmcache(lmcache, lmcacheSpec.port);
  const servers = await Promise.all(vllmSpecs.map((spec) => ensureContainer(spec, workflowId)));
  return { containers: [lmcache, ...servers] };
}
