/**
 * Stage "cleanup", always run: for each container labelled with this workflow's id, save its last 50 log
 * lines into the results directory, stop it (10 s grace) and remove it. Idempotent; other runs' containers
 * are never touched because only this workflow's label is listed.
 */
import { heartbeat } from '@temporalio/activity';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { docker, containersOf, isNotFound, logTail, type OwnedContainer } from './docker.js';

const STOP_TIMEOUT_SECONDS = 10;
const LOG_TAIL_LINES = 50;

export interface CleanupResult {
  removed: string[];
  logFiles: string[];
}

export async function cleanupContainers(input: { workflowId: string; resultsDir: string }): Promise<CleanupResult> {
  return removeContainers(await containersOf(input.workflowId), input.resultsDir, (name) => heartbeat({ cleaning: name }));
}

/** Saves each container's log tail into `<resultsDir>/container_logs`, then stops and removes it. */
export async function removeContainers(
  containers: OwnedContainer[],
  resultsDir: string,
  onProgress: (containerName: string) => void,
): Promise<CleanupResult> {
  const logDir = path.join(resultsDir, 'container_logs');
  await mkdir(logDir, { recursive: true });
  const removed: string[] = [];
  const logFiles: string[] = [];
  for (const container of containers) {
    onProgress(container.name);
    const logFile = path.join(logDir, `${container.role ?? 'unknown'}-${container.name}.log`);
    await writeFile(logFile, await logTail(container.id, LOG_TAIL_LINES));
    logFiles.push(logFile);
    const handle = docker().getContainer(container.id);
    await alreadyDoneIsFine(handle.stop({ t: STOP_TIMEOUT_SECONDS }));
    await alreadyDoneIsFine(handle.remove({ force: true }));
    removed.push(container.name);
  }
  return { removed, logFiles };
}

/** Already stopped (304) or already removed (404), by an earlier attempt or by hand: the goal is met. */
async function alreadyDoneIsFine(operation: Promise<unknown>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    if (!isNotFound(error) && (error as { statusCode?: number }).statusCode !== 304) throw error;
  }
}
