/**
 * Before a stage that needs the servers: this run's three containers exist and run, and all are healthy. A
 * missing one (a reset run whose containers were cleaned up) is relaunched through the launch code; a dead one
 * is relaunched only for a `retryStage` (`relaunchDead`): otherwise a server that crashed between two stages
 * fails the run with its log tail, as it would during a stage. Cheap when everything is up.
 */
import { log } from '@temporalio/activity';
import { ROLES } from '../commands/containers.js';
import { containersOf } from '../docker/containers.js';
import { FailureType } from '../failures.js';
import { containerLogDir, failWithLogTails } from './container-failure.js';
import { waitUntilHealthy, type HealthResult } from './health.js';
import { launchContainers, type LaunchInput } from './launch.js';

export async function ensureServers(
  input: LaunchInput & { relaunchDead?: boolean },
): Promise<{ relaunched: string[]; health: HealthResult }> {
  const containers = await containersOf(input.workflowId);
  const dead = containers.filter((container) => container.state !== 'running');
  if (dead.length > 0 && !input.relaunchDead) {
    const names = dead.map((container) => `${container.name} (${container.role})`).join(', ');
    await failWithLogTails(
      FailureType.ContainerExited,
      `container ${names} is no longer running`,
      dead,
      containerLogDir(input.config.resultsDir),
    );
  }
  const running = new Set(containers.filter((container) => container.state === 'running').map((c) => c.role));
  let relaunched: string[] = [];
  if (ROLES.some((role) => !running.has(role))) {
    const { containers } = await launchContainers(input);
    relaunched = containers.filter((container) => !container.reused).map((container) => container.name);
    log.info('servers relaunched', { containers: relaunched });
  }
  return { relaunched, health: await waitUntilHealthy(input) };
}
