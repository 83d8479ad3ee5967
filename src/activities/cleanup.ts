/**
 * Stage "cleanup", always run: for each container labelled with this workflow's id, save its last 50 log
 * lines into the results directory, stop it (10 s grace) and remove it; then release the run's GPU and port
 * leases on this node, and remove the tree an LMCACHE_REF build exported into the results directory. Idempotent;
 * other runs' containers and leases are never touched because only this workflow's are listed.
 */
import { heartbeat, log } from '@temporalio/activity';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { containersOf, removeContainers, type RemovedContainers } from '../docker/containers.js';
import { releaseLeases } from '../placement/leases.js';
import { nodeSettings } from '../placement/node.js';
import { SOURCE_TREE_DIR } from './build.js';

export async function cleanupContainers(input: {
  workflowId: string;
  resultsDir: string;
}): Promise<RemovedContainers & { releasedLeases: string[] }> {
  const result = await removeContainers(await containersOf(input.workflowId), input.resultsDir, (name) =>
    heartbeat({ cleaning: name }),
  );
  // Containers first: a lease released while its servers still ran could hand their ports to another run.
  const releasedLeases = await releaseLeases(nodeSettings().leaseDir, input.workflowId);
  await rm(path.join(input.resultsDir, SOURCE_TREE_DIR), { recursive: true, force: true });
  log.info('containers removed', { containers: result.removed, logFiles: result.logFiles, releasedLeases });
  return { ...result, releasedLeases };
}
