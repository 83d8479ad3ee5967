/**
 * End-to-end harness: the run's results and the Docker engine's view of what was left behind. The dev
 * server and worker processes are in ../helpers/temporal-processes.ts.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { containersOf } from '../../src/docker/containers.js';
import type { RunReport } from '../../src/report/types.js';

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
