/**
 * Stage "cleanup", always run: for each container labelled with this workflow's id, save its last 50 log
 * lines into the results directory, stop it (10 s grace) and remove it. Idempotent; other runs' containers
 * are never touched because only this workflow's label is listed.
 */
import { heartbeat, log } from '@temporalio/activity';
import { containersOf, removeContainers, type RemovedContainers } from '../docker/containers.js';

export async function cleanupContainers(input: { workflowId: string; resultsDir: string }): Promise<RemovedContainers> {
  const result = await removeContainers(await containersOf(input.workflowId), input.resultsDir, (name) =>
    heartbeat({ cleaning: name }),
  );
  log.info('containers removed', { containers: result.removed, logFiles: result.logFiles });
  return result;
}
