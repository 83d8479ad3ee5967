/**
 * The janitor: cleans up after runs that cannot clean up themselves — terminated, timed out, or whose
 * history is gone — by removing the pipeline containers of every workflow that is no longer running, and
 * releasing their GPU and port leases (every node's directory under LEASE_DIR). Containers and leases of
 * running workflows are left alone. Run it on each node (cron, or a CI step before a run):
 *   node dist/src/client/cli.js janitor [--dry-run]
 */
import { Connection, WorkflowClient, WorkflowNotFoundError } from '@temporalio/client';
import { connectionSettings, explainConnectionFailure } from '../connection.js';
import { containersOf, removeContainers, type OwnedContainer } from '../docker/containers.js';
import { leaseHolders, releaseLeases } from '../placement/leases.js';
import { DEFAULT_LEASE_DIR } from '../placement/node.js';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

/** Where log tails go when a container does not say where its run kept its results. */
const FALLBACK_RESULTS_DIR = '/tmp/lmcache_ci_results_janitor';

export interface JanitorVerdict {
  workflowId: string;
  status: string;
  containers: string[];
  removed: boolean;
}

async function workflowStatus(client: WorkflowClient, workflowId: string): Promise<string> {
  try {
    return (await client.getHandle(workflowId).describe()).status.name;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return 'NOT_FOUND';
    throw error;
  }
}

/** Asks Temporal whether a workflow is still running (for lease reclaiming). */
export function isRunningIn(client: WorkflowClient): (workflowId: string) => Promise<boolean> {
  return async (workflowId) => (await workflowStatus(client, workflowId)) === 'RUNNING';
}

/** Each node's lease directory under LEASE_DIR (a node keeps its own; a shared disk shows them all). */
async function nodeLeaseDirs(env: NodeJS.ProcessEnv): Promise<string[]> {
  const root = env.LEASE_DIR || DEFAULT_LEASE_DIR;
  try {
    const entries = await readdir(root, { withFileTypes: true });
    return entries.filter((entry) => entry.isDirectory()).map((entry) => path.join(root, entry.name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export async function runJanitor(
  env: NodeJS.ProcessEnv,
  options: { dryRun: boolean; log: (line: string) => void },
): Promise<JanitorVerdict[]> {
  const byWorkflow = new Map<string, OwnedContainer[]>();
  for (const container of await containersOf()) {
    byWorkflow.set(container.workflowId, [...(byWorkflow.get(container.workflowId) ?? []), container]);
  }
  const leaseDirsOf = new Map<string, string[]>();
  for (const dir of await nodeLeaseDirs(env)) {
    for (const workflowId of await leaseHolders(dir)) {
      leaseDirsOf.set(workflowId, [...(leaseDirsOf.get(workflowId) ?? []), dir]);
      if (!byWorkflow.has(workflowId)) byWorkflow.set(workflowId, []);
    }
  }
  if (byWorkflow.size === 0) {
    options.log('no pipeline containers or leases on this node');
    return [];
  }
  const settings = connectionSettings(env);
  const { address, tls, apiKey, metadata } = settings;
  const connection = await Connection.connect({ address, tls, apiKey, metadata }).catch((error: unknown) => {
    throw explainConnectionFailure(error, settings);
  });
  try {
    const client = new WorkflowClient({ connection, namespace: settings.namespace });
    const verdicts: JanitorVerdict[] = [];
    for (const [workflowId, containers] of byWorkflow) {
      const status = await workflowStatus(client, workflowId);
      const orphaned = status !== 'RUNNING';
      const names = containers.map((c) => c.name);
      if (orphaned && !options.dryRun) {
        const resultsDir = containers[0]?.resultsDir ?? FALLBACK_RESULTS_DIR;
        await removeContainers(containers, resultsDir, (name) =>
          options.log(`  removing ${name} (log tail saved in ${resultsDir}/container_logs)`),
        );
        // After the containers: their ports stay leased until nothing can still hold them.
        for (const dir of leaseDirsOf.get(workflowId) ?? []) await releaseLeases(dir, workflowId);
      }
      const leases = (leaseDirsOf.get(workflowId) ?? []).map((dir) => `leases in ${dir}`);
      options.log(
        `${workflowId}: ${status}; ${orphaned ? (options.dryRun ? 'would remove' : 'removed') : 'kept'} ${[...names, ...leases].join(', ')}`,
      );
      verdicts.push({ workflowId, status, containers: names, removed: orphaned && !options.dryRun });
    }
    return verdicts;
  } finally {
    await connection.close();
  }
}
