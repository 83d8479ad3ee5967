/**
 * This project's containers, found by their labels (the workflow id each belongs to), and their removal:
 * log tail saved first, then stop and remove. Used by the cleanup stage, the janitor and the tests.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LABEL_RESULTS_DIR, LABEL_ROLE, LABEL_WORKFLOW_ID, type Role } from '../commands/containers.js';
import { docker, isNotFound, isNotModified, isRemovalInProgress } from './client.js';
import { logTail } from './logs.js';

const STOP_TIMEOUT_SECONDS = 10;

export interface OwnedContainer {
  id: string;
  name: string;
  workflowId: string;
  role: Role | undefined;
  resultsDir: string | undefined;
  state: string;
}

/** Every pipeline container, running or not; only this workflow's when `workflowId` is given. */
export async function containersOf(workflowId?: string): Promise<OwnedContainer[]> {
  const label = workflowId === undefined ? LABEL_WORKFLOW_ID : `${LABEL_WORKFLOW_ID}=${workflowId}`;
  const found = await docker().listContainers({ all: true, filters: { label: [label] } });
  return found.map((info) => ({
    id: info.Id,
    name: (info.Names[0] ?? info.Id).replace(/^\//, ''),
    workflowId: info.Labels[LABEL_WORKFLOW_ID],
    role: info.Labels[LABEL_ROLE] as Role | undefined,
    resultsDir: info.Labels[LABEL_RESULTS_DIR],
    state: info.State,
  }));
}

export interface RemovedContainers {
  removed: string[];
  logFiles: string[];
}

/** Saves each container's log tail into `<resultsDir>/container_logs`, then stops and removes it. */
export async function removeContainers(
  containers: OwnedContainer[],
  resultsDir: string,
  onProgress: (containerName: string) => void,
): Promise<RemovedContainers> {
  const logDir = path.join(resultsDir, 'container_logs');
  await mkdir(logDir, { recursive: true });
  const removed: string[] = [];
  const logFiles: string[] = [];
  for (const container of containers) {
    onProgress(container.name);
    const logFile = path.join(logDir, `${container.role ?? 'unknown'}-${container.name}.log`);
    // Gone already: another remover (the run's cleanup and a janitor may meet) got there first.
    const tail = await logTail(container.id).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
    if (tail !== undefined) {
      await writeFile(logFile, tail);
      logFiles.push(logFile);
    }
    const handle = docker().getContainer(container.id);
    await alreadyDoneIsFine(handle.stop({ t: STOP_TIMEOUT_SECONDS }));
    await alreadyDoneIsFine(
      handle.remove({ force: true }).catch(async (error: unknown) => {
        // Another remover (a janitor beside the run's cleanup) is removing it: done once it is gone.
        if (!isRemovalInProgress(error)) throw error;
        await untilGone(container.id);
      }),
    );
    removed.push(container.name);
  }
  return { removed, logFiles };
}

const GONE_WITHIN_MS = 30_000;

async function untilGone(id: string): Promise<void> {
  const deadline = Date.now() + GONE_WITHIN_MS;
  while (Date.now() < deadline) {
    try {
      await docker().getContainer(id).inspect();
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`container ${id} was still being removed by another remover after ${GONE_WITHIN_MS / 1000} s`);
}

/** Already stopped (304) or already removed (404), by an earlier attempt or by hand: the goal is met. */
async function alreadyDoneIsFine(operation: Promise<unknown>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    if (!isNotFound(error) && !isNotModified(error)) throw error;
  }
}
