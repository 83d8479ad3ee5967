/** The fleet's figures (scripts/fleet-sim.sh) from histories: leases, their overlaps, and stages off their node. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crossNodeStages, leaseOf, leaseOverlaps, type HistoryEvent, type RunLease } from '../../src/client/fleet.js';
import type { RunPlacement } from '../../src/placement/placement.js';

const payload = (value: unknown) => ({ payloads: [{ data: Buffer.from(JSON.stringify(value)).toString('base64') }] });

/** A history of activities: each is scheduled, started by `identity` and completed with `result` at `at` seconds. */
function history(activities: Array<{ name: string; identity: string; at: number; result?: unknown }>): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const time = (seconds: number) => new Date(Date.UTC(2026, 10, 28, 10, 0, seconds)).toISOString();
  for (const activity of activities) {
    const scheduledId = events.length + 1;
    events.push({
      eventId: scheduledId,
      eventTime: time(activity.at),
      eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
      activityTaskScheduledEventAttributes: { activityType: { name: activity.name } },
    });
    events.push({
      eventId: scheduledId + 1,
      eventTime: time(activity.at),
      eventType: 'EVENT_TYPE_ACTIVITY_TASK_STARTED',
      activityTaskStartedEventAttributes: { scheduledEventId: scheduledId, identity: activity.identity },
    });
    events.push({
      eventId: scheduledId + 2,
      eventTime: time(activity.at),
      eventType: 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED',
      activityTaskCompletedEventAttributes: { scheduledEventId: scheduledId, result: payload(activity.result ?? {}) },
    });
  }
  return events;
}

const placement = (node: string, gpus: [number, number], firstPort: number): RunPlacement => ({
  node,
  gpus: { withLmcache: gpus[0], baseline: gpus[1] },
  ports: { vllm: firstPort, baseline: firstPort + 1, lmcache: firstPort + 2, prometheus: firstPort + 3 },
});

const lease = (id: string, where: RunPlacement, from: number, to: number): RunLease => ({
  workflowId: id,
  placement: where,
  from,
  to,
});

describe('fleet figures', () => {
  it("reads a run's lease from its lease stage to the end of its cleanup", () => {
    const where = placement('node-a', [0, 1], 20000);
    const events = history([
      { name: 'claimNode', identity: '1@host/node=node-a', at: 0, result: { node: 'node-a' } },
      { name: 'leaseResources', identity: '1@host/node=node-a', at: 2, result: { placement: where } },
      { name: 'cleanupContainers', identity: '1@host/node=node-a', at: 40 },
    ]);
    const found = leaseOf('run-1', events)!;
    assert.deepEqual(found.placement, where);
    assert.equal(found.to - found.from, 38_000);
  });

  it('counts stages a worker of another node started, leaving out the claim', () => {
    const events = history([
      { name: 'claimNode', identity: '1@host/node=node-b', at: 0, result: { node: 'node-a' } },
      { name: 'buildImage', identity: '1@host/node=node-a', at: 1 },
      { name: 'runLmEval', identity: '2@host/node=node-b', at: 5 },
    ]);
    assert.deepEqual(crossNodeStages(events), ['runLmEval on node-b (claimed node-a)']);
  });

  it('counts pairs that held a GPU or a port on one node at the same time, and only those', () => {
    const leases = [
      lease('a', placement('node-a', [0, 1], 20000), 0, 10),
      // Same node, overlapping time, GPU 1 and port 20003 shared with "a".
      lease('b', placement('node-a', [1, 2], 20003), 5, 15),
      // Same GPUs and ports as "a" but after it ended: a lease handed on, not shared.
      lease('c', placement('node-a', [0, 1], 20000), 10, 20),
      // Same GPUs and ports as "a", at the same time, on another node.
      lease('d', placement('node-b', [0, 1], 20000), 0, 10),
    ];
    assert.deepEqual(leaseOverlaps(leases), { gpu: 2, port: 2 });
    assert.deepEqual(leaseOverlaps([leases[0], leases[2], leases[3]]), { gpu: 0, port: 0 });
  });
});
