/**
 * Before a stage that needs the servers (and before every `retryStage`): this run's three containers exist
 * and run, relaunching through the launch code only one that is missing or dead, and all are healthy. Cheap
 * when everything is up; it is what lets a reset run whose containers were cleaned up go on.
 */
import { log } from '@temporalio/activity';
import { ROLES } from '../commands/containers.js';
import { containersOf } from '../docker/containers.js';
import { waitUntilHealthy, type HealthResult } from './health.js';
import { launchContainers, type LaunchInput } from './launch.js';

export async function ensureServers(input: LaunchInput): Promise<{ relaunched: string[]; health: HealthResult }> {
  const running = new Set(
    (await containersOf(input.workflowId))
      .filter((container) => container.state === 'running')
      .map((container) => container.role),
  );
  let relaunched: string[] = [];
  if (ROLES.some((role) => !running.has(role))) {
    const { containers } = await launchContainers(input);
    relaunched = containers.filter((container) => !container.reused).map((container) => container.name);
    log.info('servers relaunched', { containers: relaunched });
  }
  return { relaunched, health: await waitUntilHealthy(input) };
}
