/**
 * `cli.js follow --workflow-id ID`: attaches to a run, running or finished, and prints its progress until it ends,
 * then its summary table; resolves to the run's exit code (see exitCodeOf). Everything comes from Temporal (the
 * history, long-polled; `describe` once a second for the running stage's attempt and heartbeat), so it works
 * from any machine that reaches the server, and a lost CI agent loses nothing but its view.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectionSettings } from '../connection.js';
import { withVisibilityClient } from '../history/visibility.js';
import { renderSummaryTable } from '../report/terminal.js';
import { exitCodeOf, FollowView, RunTracker, viewKind, type Note } from './follow-render.js';

/** `describe` at most this often: the running stage's heartbeat and attempt. */
const DESCRIBE_INTERVAL_MS = 1000;

interface HeldPhase {
  phase: 'held';
  stage: string;
  reason: string;
  retryCommand: string;
  finishCommand: string;
}

export interface FollowOptions {
  workflowId: string;
  write: (text: string) => void;
  isTty: boolean;
  /** The terminal's width, for the live line. */
  columns?: number;
}

export async function followRun(env: NodeJS.ProcessEnv, options: FollowOptions): Promise<number> {
  const { address } = connectionSettings(env);
  return withVisibilityClient(env, async (client) => {
    const handle = client.getHandle(options.workflowId);
    // Pinned to the run that is current now, so a later run with the same id is not mixed in.
    const { runId } = await handle.describe();
    const run = client.getHandle(options.workflowId, runId);
    const tracker = new RunTracker();
    const view = new FollowView(viewKind(env, options.isTty), options.write, address, options.columns);
    let end: Extract<Note, { kind: 'run-end' }> | undefined;
    let stopped = false;

    const show = async (notes: Note[]) => {
      view.show(notes);
      for (const note of notes) {
        if (note.kind === 'run-end') end = note;
        if (note.kind === 'state' && note.state === 'held') {
          const phase = (await run.query<{ phase: string }>('state').catch(() => undefined)) as HeldPhase | undefined;
          if (phase?.phase === 'held') view.show([{ kind: 'held', at: note.at, ...phase }]);
        }
      }
    };

    const history = async () => {
      let nextPageToken: Uint8Array | undefined;
      do {
        const response = await client.workflowService.getWorkflowExecutionHistory({
          namespace: client.options.namespace,
          execution: { workflowId: options.workflowId, runId },
          nextPageToken,
          // A long poll: the server answers when there are new events (or after its own timeout, with none).
          waitNewEvent: true,
          skipArchival: true,
        });
        for (const event of response.history?.events ?? []) await show(tracker.onEvent(event));
        nextPageToken = response.nextPageToken?.length ? response.nextPageToken : undefined;
      } while (nextPageToken && !end);
    };

    const pending = async () => {
      while (!end && !stopped) {
        await sleep(DESCRIBE_INTERVAL_MS);
        if (end || tracker.startedAt === undefined) continue;
        // A failed look is only a missed second: the history still tells how the run goes.
        const described = await run.describe().catch(() => undefined);
        if (!described || end) continue;
        await show(tracker.onPending(described.raw.pendingActivities ?? []));
        view.tick(Date.now() - tracker.startedAt);
      }
    };

    await Promise.all([history(), pending()]).finally(() => (stopped = true));
    view.close();
    if (!end) throw new Error(`the history of ${options.workflowId} ended without the run's end`);
    if (end.report) options.write(`\n${renderSummaryTable(end.report)}\n`);
    return exitCodeOf(end);
  });
}
