/**
 * Figures of one run for scripts/bench-sim.sh: each stage's duration (from the report) and, per server, the
 * time from being seen healthy to the workflow leaving the health wait (from health.json and the history).
 */
import type { HealthResult } from '../activities/health.js';
import type { RunReport } from '../report/types.js';

interface HistoryEvent {
  eventId: string | number;
  eventTime: string;
  eventType: string;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string } };
  activityTaskCompletedEventAttributes?: { scheduledEventId?: string | number };
  activityTaskStartedEventAttributes?: { scheduledEventId?: string | number };
}

/** Events that end an activity's attempt: the last attempt's, for activities the history shows started. */
const ACTIVITY_CLOSED = /ACTIVITY_TASK_(COMPLETED|FAILED|TIMED_OUT|CANCELED)$/;

/**
 * The orchestration's share of a run: its wall time, from a worker's first pickup of it (a worker still starting
 * up is no cost of the run) to its last event, minus the time its activities ran (each from its start to its
 * close; the stages run one at a time). What the server, the workflow tasks and the workers' polling add, and
 * what a client watching the run (`cli.js follow`) could add to.
 */
export function orchestrationOverheadMs(events: HistoryEvent[]): number {
  const times = events.map((event) => Date.parse(event.eventTime));
  const startedAt = new Map<string, number>();
  let busy = 0;
  events.forEach((event, index) => {
    const started = event.activityTaskStartedEventAttributes;
    if (started) startedAt.set(String(started.scheduledEventId), times[index]!);
    if (!ACTIVITY_CLOSED.test(event.eventType)) return;
    const attributes = Object.entries(event).find(([key]) => /^activityTask\w+EventAttributes$/.test(key))?.[1] as
      { scheduledEventId?: string | number } | undefined;
    const start = startedAt.get(String(attributes?.scheduledEventId));
    if (start !== undefined) busy += times[index]! - start;
  });
  const pickedUp = events.findIndex((event) => event.eventType.endsWith('WORKFLOW_TASK_STARTED'));
  return times[times.length - 1]! - times[Math.max(0, pickedUp)]! - busy;
}

/** When the workflow acted on the health stage's result: the first workflow task completed after it. */
export function healthWaitLeftAt(events: HistoryEvent[]): number | undefined {
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'waitForHealth');
  if (!scheduled) return undefined;
  const completedIndex = events.findIndex(
    (e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') === String(scheduled.eventId),
  );
  if (completedIndex < 0) return undefined;
  const next = events.slice(completedIndex).find((e) => e.eventType.endsWith('WORKFLOW_TASK_COMPLETED'));
  return next ? Date.parse(next.eventTime) : undefined;
}

export function renderTimings(report: RunReport, health: HealthResult | undefined, events: HistoryEvent[]): string {
  const lines = ['stage          seconds'];
  for (const stage of report.stages)
    lines.push(`${stage.name.padEnd(14)} ${(stage.durationMs / 1000).toFixed(3).padStart(8)}  ${stage.status}`);
  const total = report.stages.reduce((sum, stage) => sum + stage.durationMs, 0);
  lines.push(`${'total'.padEnd(14)} ${(total / 1000).toFixed(3).padStart(8)}`);
  const leftAt = healthWaitLeftAt(events);
  if (health && leftAt !== undefined) {
    lines.push('', 'server     healthy -> workflow left the health wait (ms)');
    for (const server of health.servers)
      lines.push(`${server.role.padEnd(10)} ${String(leftAt - server.healthyAt).padStart(8)}`);
    lines.push(
      `(the last server seen healthy bounds the wait; probes run every 250 ms, so readiness is seen at most that late)`,
    );
  }
  return lines.join('\n');
}

/**
 * Per activity, in the order the run scheduled them: how long the orchestration took to hand over to it, from the
 * previous activity's close (or the worker's first pickup of the run) to this activity's start.
 */
export function activityHandoffsMs(events: HistoryEvent[]): { activity: string; ms: number }[] {
  const times = events.map((event) => Date.parse(event.eventTime));
  const names = new Map<string, string>();
  const handoffs: { activity: string; ms: number }[] = [];
  let freeSince =
    times[
      Math.max(
        0,
        events.findIndex((event) => event.eventType.endsWith('WORKFLOW_TASK_STARTED')),
      )
    ]!;
  events.forEach((event, index) => {
    const name = event.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) names.set(String(event.eventId), name);
    const started = event.activityTaskStartedEventAttributes;
    if (started)
      handoffs.push({ activity: names.get(String(started.scheduledEventId)) ?? '?', ms: times[index]! - freeSince });
    if (ACTIVITY_CLOSED.test(event.eventType)) freeSince = times[index]!;
  });
  return handoffs;
}

export interface OrchestrationFigures {
  label: string;
  events: HistoryEvent[];
  report: RunReport;
  health?: HealthResult;
}

/** Two runs' orchestration figures side by side: hand-over per activity, readiness lag per server, overhead. */
export function renderOrchestrationComparison(a: OrchestrationFigures, b: OrchestrationFigures): string {
  const row = (name: string, x: number | undefined, y: number | undefined) =>
    `${name.padEnd(30)} ${String(x ?? '-').padStart(10)} ${String(y ?? '-').padStart(10)} ${
      x && y !== undefined ? `${(y / x).toFixed(2)}x`.padStart(8) : '       -'
    }`;
  const lines = [`${'ms'.padEnd(30)} ${a.label.padStart(10)} ${b.label.padStart(10)} ${'ratio'.padStart(8)}`];
  const handoffsA = activityHandoffsMs(a.events);
  const handoffsB = activityHandoffsMs(b.events);
  for (let i = 0; i < Math.max(handoffsA.length, handoffsB.length); i++) {
    lines.push(
      row(`hand-over ${handoffsA[i]?.activity ?? handoffsB[i]!.activity}`, handoffsA[i]?.ms, handoffsB[i]?.ms),
    );
  }
  const lag = (figures: OrchestrationFigures, role: string) => {
    const leftAt = healthWaitLeftAt(figures.events);
    const server = figures.health?.servers.find((s) => s.role === role);
    return leftAt !== undefined && server ? leftAt - server.healthyAt : undefined;
  };
  for (const role of (a.health ?? b.health)?.servers.map((s) => s.role) ?? []) {
    lines.push(row(`readiness lag ${role}`, lag(a, role), lag(b, role)));
  }
  lines.push(row('orchestration overhead', orchestrationOverheadMs(a.events), orchestrationOverheadMs(b.events)));
  return lines.join('\n');
}
