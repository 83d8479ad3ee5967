/**
 * End-to-end harness: the run's results and the Docker engine's view of what was left behind. The dev
 * server and worker processes are in ../helpers/temporal-processes.ts.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { containersOf, removeContainers } from '../../src/docker/containers.js';
import type { RunReport } from '../../src/report/types.js';
import type { DevServer } from '../helpers/temporal-processes.js';

export async function readReport(resultsDir: string): Promise<RunReport> {
  return JSON.parse(await readFile(`${resultsDir}/report.json`, 'utf8')) as RunReport;
}

/** Names of pipeline containers still present for this workflow (should be none after any run). */
export async function leftoverContainers(workflowId: string): Promise<string[]> {
  return (await containersOf(workflowId)).map((c) => c.name);
}

/** Every pipeline container on the engine, any run. */
export async function allPipelineContainers(): Promise<string[]> {
  return (await containersOf()).map((c) => c.name);
}

export function resultsDirOf(buildId: string): string {
  return `/tmp/lmcache_ci_results_${buildId}`;
}

export function exists(path: string): boolean {
  return existsSync(path);
}

/**
 * Removes what a failed assertion left mid-flight: every run a test file starts has the test process's pid at
 * the end of its workflow id, and its containers must not hold the ports for the files after it.
 */
export async function removeStrayContainers(): Promise<void> {
  const strays = (await containersOf()).filter((c) => c.workflowId.endsWith(`-${process.pid}`));
  if (strays.length > 0) await removeContainers(strays, '/tmp/lmcache_ci_results_e2e_strays', () => {});
}

/**
 * Starts an lmcacheMpTest run with `temporal workflow start`, as CI does, through a dev server's CLI or any other
 * (a cluster's, with its connection variables); the CLI's result, for its exit code.
 */
export function startRun<R>(
  server: Pick<DevServer, 'cli'> | { cli(args: string[]): R },
  taskQueue: string,
  workflowId: string,
  input: object,
) {
  return server.cli([
    'workflow',
    'start',
    '--type',
    'lmcacheMpTest',
    '--task-queue',
    taskQueue,
    '--workflow-id',
    workflowId,
    '--input',
    JSON.stringify(input),
  ]);
}
