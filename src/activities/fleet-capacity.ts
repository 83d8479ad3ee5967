/**
 * How many nodes can take a run now: the distinct nodes whose workers poll the shared task queue for activities
 * (each worker names its node in its identity, `…/node=<name>`). A bisect runs that many probes per round when
 * its input does not say.
 */
import { activityInfo } from '@temporalio/activity';
import protos from '@temporalio/proto';
import { withVisibilityClient } from '../history/visibility.js';

/** The node names in worker identities (`pid@host/node=<name>`); an identity without one counts as its own node. */
export function nodesOf(identities: string[]): string[] {
  return [...new Set(identities.map((identity) => /\/node=(.+)$/.exec(identity)?.[1] ?? identity))].sort();
}

export async function countFleetNodes(): Promise<{ nodes: number; names: string[] }> {
  const { taskQueue, workflowNamespace } = activityInfo();
  const pollers = await withVisibilityClient(
    process.env,
    async (client) =>
      (
        await client.workflowService.describeTaskQueue({
          namespace: workflowNamespace,
          taskQueue: { name: taskQueue },
          taskQueueType: protos.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        })
      ).pollers ?? [],
    { namespace: workflowNamespace, connectTimeout: '10s' },
  );
  const names = nodesOf(pollers.map((poller) => poller.identity ?? '').filter(Boolean));
  return { nodes: names.length, names };
}
