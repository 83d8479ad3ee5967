/**
 * Figures of a fleet of runs for scripts/fleet-sim.sh, measured from the runs' histories (never assumed): each
 * run's lease (node, GPUs, ports, from the lease's completion to the cleanup's), pairs of runs that held the same
 * GPU or port on the same node at the same time, and stages that ran on a node other than the one claimed (the
 * node is in each activity start's worker identity, `<pid>@<host>/node=<name>`).
 */
import type { RunPlacement } from '../placement/placement.js';

export interface HistoryEvent {
  eventId: string | number;
  eventTime: string;
  eventType: string;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string } };
  activityTaskStartedEventAttributes?: { scheduledEventId?: string | number; identity?: string };
  activityTaskCompletedEventAttributes?: {
    scheduledEventId?: string | number;
    result?: { payloads?: Array<{ data?: string }> };
  };
}

export interface RunLease {
  workflowId: string;
  placement: RunPlacement;
  from: number;
  to: number;
}

/** Activities that run on whichever node picks them up, by design: the claim itself and the input files' check. */
const UNPINNED = new Set(['claimNode', 'checkInputFiles', 'checkScriptFiles']);

function activityNames(events: HistoryEvent[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const event of events) {
    const name = event.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) names.set(String(event.eventId), name);
  }
  return names;
}

function completions(events: HistoryEvent[], activity: string): Array<{ at: number; result: unknown }> {
  const names = activityNames(events);
  return events
    .filter((event) => {
      const scheduled = event.activityTaskCompletedEventAttributes?.scheduledEventId;
      return scheduled !== undefined && names.get(String(scheduled)) === activity;
    })
    .map((event) => {
      const data = event.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
      return {
        at: Date.parse(event.eventTime),
        result: data ? JSON.parse(Buffer.from(data, 'base64').toString()) : {},
      };
    });
}

/** The run's lease, from the lease stage's result to the end of cleanup (or of the history, if it never came). */
export function leaseOf(workflowId: string, events: HistoryEvent[]): RunLease | undefined {
  const lease = completions(events, 'leaseResources').at(-1);
  if (!lease) return undefined;
  const cleanup = completions(events, 'cleanupContainers').at(-1);
  const to = cleanup?.at ?? Date.parse(events[events.length - 1]!.eventTime);
  return { workflowId, placement: (lease.result as { placement: RunPlacement }).placement, from: lease.at, to };
}

/** Stages started by a worker of another node than the one the run claimed. */
export function crossNodeStages(events: HistoryEvent[]): string[] {
  const claimed = (completions(events, 'claimNode').at(-1)?.result as { node?: string } | undefined)?.node;
  const names = activityNames(events);
  const crossed: string[] = [];
  for (const event of events) {
    const started = event.activityTaskStartedEventAttributes;
    if (!started) continue;
    const name = names.get(String(started.scheduledEventId)) ?? '?';
    if (UNPINNED.has(name)) continue;
    const node = /\/node=(.+)$/.exec(started.identity ?? '')?.[1];
    if (node !== claimed) crossed.push(`${name} on ${node ?? started.identity} (claimed ${claimed})`);
  }
  return crossed;
}

/** Pairs of runs holding the same GPU, and the same port, on the same node at overlapping times. */
export function leaseOverlaps(leases: RunLease[]): { gpu: number; port: number } {
  let gpu = 0;
  let port = 0;
  leases.forEach((a, i) =>
    leases.slice(i + 1).forEach((b) => {
      if (a.placement.node !== b.placement.node || a.to <= b.from || b.to <= a.from) return;
      const gpusOf = (l: RunLease) =>
        l.placement.gpus ? [l.placement.gpus.withLmcache, l.placement.gpus.baseline] : [];
      if (gpusOf(a).some((g) => gpusOf(b).includes(g))) gpu++;
      if (Object.values(a.placement.ports).some((p) => Object.values(b.placement.ports).includes(p))) port++;
    }),
  );
  return { gpu, port };
}
