/**
 * What `cli.js follow` prints, from what Temporal records of a run: its history events (stage starts, ends,
 * retries, the run's end) and the pending activities `describe` shows (attempts, heartbeat details). Pure: the
 * tracker turns decoded events and pending activities into notes, the views turn notes into lines for a pipe, a
 * terminal, Buildkite or GitHub Actions. ./follow.ts does the I/O.
 */
import type { WorkflowService } from '@temporalio/client';
import {
  ApplicationFailure,
  defaultFailureConverter,
  defaultPayloadConverter,
  type ProtoFailure,
} from '@temporalio/common';
import type { FailureEvidence } from '../failures.js';
import type { Check, RunReport } from '../report/types.js';

type HistoryResponse = Awaited<ReturnType<WorkflowService['getWorkflowExecutionHistory']>>;
export type HistoryEvent = NonNullable<NonNullable<HistoryResponse['history']>['events']>[number];
type DescribeResponse = Awaited<ReturnType<WorkflowService['describeWorkflowExecution']>>;
export type PendingActivity = NonNullable<DescribeResponse['pendingActivities']>[number];
type Payload = NonNullable<NonNullable<HistoryEvent['userMetadata']>['summary']>;
type Timestamp = HistoryEvent['eventTime'];

/** The stages of the report, by the activity that runs each; other activities (node claim, servers check) are none. */
const STAGE_OF_ACTIVITY: Record<string, string> = {
  buildImage: 'build',
  selectGpus: 'select_gpus',
  leaseResources: 'select_gpus',
  launchContainers: 'launch',
  waitForHealth: 'health',
  runLmEval: 'lm_eval',
  runVllmBench: 'vllm_bench',
  runLongDocQa: 'long_doc_qa',
  cleanupContainers: 'cleanup',
};
/** temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED: a worker runs the attempt. */
const PENDING_STARTED = 2;

export type StageEnd = 'passed' | 'failed' | 'cancelled' | 'timed out';
export type RunEnd = 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed out' | 'continued as new';

/** One thing worth a line. `at`: milliseconds since the run started. */
export type Note =
  | { kind: 'start'; at: number; stage: string; summary?: string; attempt: number; maxAttempts?: number; node?: string }
  | { kind: 'detail'; at: number; stage: string; text: string }
  | { kind: 'progress'; at: number; stage: string; text: string; fraction?: number }
  /** The latest output line of a tool: the terminal's live line shows it, the logs do not. */
  | { kind: 'live'; at: number; stage: string; text: string }
  | { kind: 'retry'; at: number; stage: string; attempt: number; error: string; evidence: FailureEvidence[] }
  | {
      kind: 'end';
      at: number;
      stage: string;
      status: StageEnd;
      durationMs?: number;
      failedChecks: Check[];
      error?: string;
      evidence: FailureEvidence[];
    }
  /** The run's state search attribute changed (`held`, `running`, its verdict). */
  | { kind: 'state'; at: number; state: string }
  | { kind: 'held'; at: number; stage: string; reason: string; retryCommand: string; finishCommand: string }
  | { kind: 'run-end'; at: number; outcome: RunEnd; report?: RunReport; error?: string };

/** How `follow` exits: 0 passed, 1 failed, 3 passed with overrides, 4 cancelled. */
export function exitCodeOf(end: Extract<Note, { kind: 'run-end' }>): number {
  if (end.outcome === 'cancelled') return 4;
  if (end.outcome !== 'completed') return 1;
  if (end.report?.verdict === 'passed-with-overrides') return 3;
  return end.report && !end.report.passed ? 1 : 0;
}

function millisOf(time: Timestamp | undefined | null): number | undefined {
  if (!time) return undefined;
  return Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6);
}

function decode(payload: Payload | undefined | null): unknown {
  return payload ? defaultPayloadConverter.fromPayload(payload) : undefined;
}

interface DecodedFailure {
  type?: string;
  /** The first line: the rest of a message (log tails) is what the evidence shows better. */
  message: string;
  details: Record<string, unknown>;
}

function decodeFailure(failure: ProtoFailure | undefined | null): DecodedFailure | undefined {
  if (!failure) return undefined;
  const error = defaultFailureConverter.failureToError(failure, defaultPayloadConverter);
  const application = error instanceof ApplicationFailure ? error : undefined;
  return {
    type: application?.type ?? undefined,
    message: error.message.split('\n')[0]!,
    details: (application?.details?.[0] as Record<string, unknown> | undefined) ?? {},
  };
}

function evidenceOf(failure: DecodedFailure | undefined): FailureEvidence[] {
  return (failure?.details.evidence as FailureEvidence[] | undefined) ?? [];
}

function describeFailure(failure: DecodedFailure | undefined): string {
  if (!failure) return 'unknown failure';
  return failure.type ? `${failure.type}: ${failure.message}` : failure.message;
}

/** What a heartbeat says, in our activities' shapes (build, waits, launch, tools, cleanup). */
export function readHeartbeat(details: unknown): { detail?: string; progress?: { text: string; fraction?: number } } {
  if (typeof details !== 'object' || details === null) return {};
  const beat = details as Record<string, unknown>;
  const tool = beat.toolProgress as { text: string; done: number; total: number } | undefined;
  if (tool) return { progress: { text: tool.text, fraction: tool.total > 0 ? tool.done / tool.total : undefined } };
  if (typeof beat.step === 'string' && beat.step) return { detail: beat.step };
  // The GPU lease's already reads "waiting for GPUs on …"; the LMCache server's start names the server.
  if (typeof beat.waitingFor === 'string')
    return { detail: beat.waitingFor.startsWith('waiting') ? beat.waitingFor : `waiting for ${beat.waitingFor}` };
  if (Array.isArray(beat.waitingFor)) return { detail: `waiting for ${beat.waitingFor.join(', ')}` };
  if (typeof beat.launching === 'string') return { detail: `launching: ${beat.launching}` };
  if (typeof beat.started === 'string') return { detail: `started ${beat.started}` };
  if (typeof beat.cleaning === 'string') return { detail: `removing ${beat.cleaning}` };
  return {};
}

interface Activity {
  stage: string;
  /** A report stage; others (node claim, servers check, report) show only when they fail or wait. */
  isStage: boolean;
  summary?: string;
  maxAttempts?: number;
  started: Set<number>;
  retried: Set<number>;
  shown: Set<string>;
  lastProgress?: string;
  lastLive?: string;
}

/** Turns a run's history events and pending activities into notes, each said once. */
export class RunTracker {
  /** Epoch milliseconds of the run's start; undefined until its first event. */
  startedAt: number | undefined;
  private readonly activities = new Map<string, Activity>();
  private readonly byActivityId = new Map<string, string>();
  private state: string | undefined;

  private at(time: number | undefined): number {
    return Math.max(0, (time ?? this.startedAt ?? 0) - (this.startedAt ?? 0));
  }

  onEvent(event: HistoryEvent): Note[] {
    const time = millisOf(event.eventTime);
    this.startedAt ??= time;
    const at = this.at(time);
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const type = scheduled.activityType?.name ?? '';
      const input = decode(scheduled.input?.payloads?.[0]) as { stage?: { name?: string } } | undefined;
      const stage = type === 'runScriptStage' ? (input?.stage?.name ?? 'script') : STAGE_OF_ACTIVITY[type];
      this.activities.set(String(event.eventId), {
        stage: stage ?? type,
        isStage: stage !== undefined,
        summary: decode(event.userMetadata?.summary) as string | undefined,
        maxAttempts: scheduled.retryPolicy?.maximumAttempts ?? undefined,
        started: new Set(),
        retried: new Set(),
        shown: new Set(),
      });
      this.byActivityId.set(scheduled.activityId ?? '', String(event.eventId));
      return [];
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const activity = this.activities.get(String(started.scheduledEventId));
      if (!activity) return [];
      return this.attemptStarted(activity, at, started.attempt ?? 1, started.identity, started.lastFailure);
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) {
      const activity = this.activities.get(String(completed.scheduledEventId));
      if (!activity?.isStage) return [];
      const result = (decode(completed.result?.payloads?.[0]) ?? {}) as {
        durationMs?: number;
        checks?: Check[];
        steps?: Array<{ name: string; cached: boolean; error: string }>;
        skipped?: string;
      };
      const failedChecks = (result.checks ?? []).filter((check) => !check.passed);
      // A build too quick for a heartbeat to show its steps still lists them, each once.
      const steps = (activity.stage === 'build' && Array.isArray(result.steps) ? result.steps : []).flatMap(
        (step, index) => this.detail(activity, at, `#${index + 1} ${step.name}${step.cached ? ' (cached)' : ''}`),
      );
      // A build that found its commit's image says so instead of listing steps.
      if (activity.stage === 'build' && result.skipped) steps.push(...this.detail(activity, at, result.skipped));
      const status: StageEnd = failedChecks.length > 0 ? 'failed' : 'passed';
      return [
        ...steps,
        { kind: 'end', at, stage: activity.stage, status, durationMs: result.durationMs, failedChecks, evidence: [] },
      ];
    }
    const failed = event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
    if (failed) {
      const activity = this.activities.get(String(failed.scheduledEventId));
      if (!activity) return [];
      const failure = decodeFailure(failed.failure);
      return [
        {
          kind: 'end',
          at,
          stage: activity.stage,
          status: event.activityTaskFailedEventAttributes ? 'failed' : 'timed out',
          durationMs: failure?.details.durationMs as number | undefined,
          failedChecks: [],
          error: describeFailure(failure),
          evidence: evidenceOf(failure),
        },
      ];
    }
    const cancelled = event.activityTaskCanceledEventAttributes;
    if (cancelled) {
      const activity = this.activities.get(String(cancelled.scheduledEventId));
      if (!activity?.isStage) return [];
      return [{ kind: 'end', at, stage: activity.stage, status: 'cancelled', failedChecks: [], evidence: [] }];
    }
    // A person's decision on a held run: which stage runs again, with which overrides.
    const update = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
    if (update) {
      const args = decode(update.args?.payloads?.[0]);
      return [{ kind: 'detail', at, stage: 'run', text: `${update.name}${args ? ` ${JSON.stringify(args)}` : ''}` }];
    }
    const upserted = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
    if (upserted?.LmcacheMpState) {
      const state = decode(upserted.LmcacheMpState) as string;
      if (state === this.state) return [];
      this.state = state;
      return [{ kind: 'state', at, state }];
    }
    return this.runEnd(event, at);
  }

  private runEnd(event: HistoryEvent, at: number): Note[] {
    if (event.workflowExecutionCompletedEventAttributes) {
      const report = decode(event.workflowExecutionCompletedEventAttributes.result?.payloads?.[0]) as RunReport;
      return [{ kind: 'run-end', at, outcome: 'completed', report }];
    }
    if (event.workflowExecutionFailedEventAttributes) {
      const failure = decodeFailure(event.workflowExecutionFailedEventAttributes.failure);
      const report = 'stages' in (failure?.details ?? {}) ? (failure!.details as unknown as RunReport) : undefined;
      return [{ kind: 'run-end', at, outcome: 'failed', report, error: describeFailure(failure) }];
    }
    if (event.workflowExecutionCanceledEventAttributes) return [{ kind: 'run-end', at, outcome: 'cancelled' }];
    const terminated = event.workflowExecutionTerminatedEventAttributes;
    if (terminated) return [{ kind: 'run-end', at, outcome: 'terminated', error: terminated.reason ?? undefined }];
    if (event.workflowExecutionTimedOutEventAttributes) return [{ kind: 'run-end', at, outcome: 'timed out' }];
    if (event.workflowExecutionContinuedAsNewEventAttributes) {
      return [{ kind: 'run-end', at, outcome: 'continued as new' }];
    }
    return [];
  }

  /** What `describe` shows of the running stages: their attempts, and what their heartbeats say. */
  onPending(pending: PendingActivity[]): Note[] {
    const notes: Note[] = [];
    for (const info of pending) {
      const activity = this.activities.get(this.byActivityId.get(info.activityId ?? '') ?? '');
      if (!activity) continue;
      const attempt = info.attempt ?? 1;
      if (attempt > 1) {
        // The failed attempt's end: a retry waiting for its backoff has not started yet.
        const failedAt = millisOf(info.lastAttemptCompleteTime ?? info.lastStartedTime);
        notes.push(...this.retry(activity, this.at(failedAt), attempt, info.lastFailure));
      }
      if (info.state !== PENDING_STARTED) continue;
      notes.push(
        ...this.attemptStarted(activity, this.at(millisOf(info.lastStartedTime)), attempt, info.lastWorkerIdentity),
      );
      const at = this.at(millisOf(info.lastHeartbeatTime));
      const details = decode(info.heartbeatDetails?.payloads?.[0]);
      const beat = readHeartbeat(details);
      if (beat.detail) notes.push(...this.detail(activity, at, beat.detail));
      if (beat.progress && beat.progress.text !== activity.lastProgress) {
        activity.lastProgress = beat.progress.text;
        notes.push({ kind: 'progress', at, stage: activity.stage, ...beat.progress });
      }
      const live = (details as { progress?: unknown } | undefined)?.progress;
      if (typeof live === 'string' && live !== activity.lastLive) {
        activity.lastLive = live;
        notes.push({ kind: 'live', at, stage: activity.stage, text: live });
      }
    }
    return notes;
  }

  private detail(activity: Activity, at: number, text: string): Note[] {
    if (activity.shown.has(text)) return [];
    activity.shown.add(text);
    return [{ kind: 'detail', at, stage: activity.stage, text }];
  }

  private retry(activity: Activity, at: number, attempt: number, lastFailure: ProtoFailure | null | undefined): Note[] {
    if (attempt <= 1 || activity.retried.has(attempt)) return [];
    activity.retried.add(attempt);
    const failure = decodeFailure(lastFailure);
    return [
      {
        kind: 'retry',
        at,
        stage: activity.stage,
        attempt,
        error: describeFailure(failure),
        evidence: evidenceOf(failure),
      },
    ];
  }

  private attemptStarted(
    activity: Activity,
    at: number,
    attempt: number,
    identity: string | null | undefined,
    lastFailure?: ProtoFailure | null,
  ): Note[] {
    const notes = this.retry(activity, at, attempt, lastFailure);
    if (!activity.isStage || activity.started.has(attempt)) return notes;
    activity.started.add(attempt);
    // Worker identities name their node: `<pid>@<host>/node=<NODE_NAME>` (src/worker.ts).
    const node = /\/node=(.+)$/.exec(identity ?? '')?.[1];
    return [
      ...notes,
      {
        kind: 'start',
        at,
        stage: activity.stage,
        summary: activity.summary,
        attempt,
        maxAttempts: activity.maxAttempts,
        node,
      },
    ];
  }
}

/** `+m:ss` (or `+h:mm:ss`) since the run started. */
export function elapsed(ms: number): string {
  const total = Math.floor(ms / 1000);
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `+${h}:${pad(m)}:${pad(s)}` : `+${m}:${pad(s)}`;
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '' : ` in ${(ms / 1000).toFixed(1)} s`;
}

function evidenceLines(evidence: FailureEvidence[]): string[] {
  return evidence.flatMap((item) => [
    `    --- last ${item.lines.length} lines of ${item.title}; whole log on the worker's node: ${item.file} ---`,
    ...item.lines.map((line) => `    | ${line}`),
  ]);
}

/** One note as plain lines (the time first), the same for every view. */
export function plainLines(note: Note, address: string): string[] {
  const time = `[${elapsed(note.at)}]`;
  switch (note.kind) {
    case 'start': {
      const attempt = note.maxAttempts ? `attempt ${note.attempt} of ${note.maxAttempts}` : `attempt ${note.attempt}`;
      const where = [attempt, ...(note.node ? [`node ${note.node}`] : [])].join(', ');
      return [`${time} ${note.stage} started${note.summary ? `: ${note.summary}` : ''} (${where})`];
    }
    case 'detail':
    case 'progress':
      return [`${time} ${note.stage}: ${note.text}`];
    case 'live':
      return [];
    case 'retry':
      return [
        `${time} ${note.stage}: attempt ${note.attempt - 1} failed, retrying: ${note.error}`,
        ...evidenceLines(note.evidence),
      ];
    case 'end': {
      const checks = note.failedChecks.map(
        (check) => `check ${check.name} failed${check.detail ? `: ${check.detail}` : ''}`,
      );
      const why = [...checks, ...(note.error ? [note.error] : [])].join('; ');
      return [
        `${time} ${note.stage} ${note.status === 'passed' ? 'passed' : note.status.toUpperCase()}${seconds(note.durationMs)}${why ? `: ${why}` : ''}`,
        ...evidenceLines(note.evidence),
      ];
    }
    case 'state':
      // Its one use is the hold (a `held` note follows with the commands); the verdict is in the run's end line.
      return [];
    case 'held':
      // As scripts/run-mp-test.sh printed them: the commands to type, whole.
      return [
        `==> HELD on stage ${note.stage}: ${note.reason.split('\n')[0]}`,
        '==> retry it (add "config": {...} to the input to override workload knobs or thresholds):',
        `  ${note.retryCommand} --address ${address}`,
        '==> or end the run with its current verdict:',
        `  ${note.finishCommand} --address ${address}`,
        '==> waiting for the run to end',
      ];
    case 'run-end': {
      const verdict = note.report?.verdict ? ` (verdict ${note.report.verdict})` : '';
      return [`${time} run ${note.outcome}${verdict}${note.error ? `: ${note.error}` : ''}`];
    }
  }
}

export type ViewKind = 'plain' | 'terminal' | 'buildkite' | 'github';

/** Buildkite and GitHub Actions say who they are in the environment; a terminal gets the live line. */
export function viewKind(env: NodeJS.ProcessEnv, isTty: boolean): ViewKind {
  if (env.BUILDKITE === 'true') return 'buildkite';
  if (env.GITHUB_ACTIONS === 'true') return 'github';
  return isTty ? 'terminal' : 'plain';
}

const BUILDKITE_EMOJI: Record<string, string> = {
  build: ':hammer:',
  select_gpus: ':desktop_computer:',
  launch: ':rocket:',
  health: ':stethoscope:',
  lm_eval: ':abacus:',
  vllm_bench: ':racing_car:',
  long_doc_qa: ':page_facing_up:',
  cleanup: ':broom:',
};

/** GitHub's workflow commands end at a newline and treat % specially. */
function githubEscape(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Turns notes into output: plain lines, with a CI system's sections, or a terminal's live status line. */
export class FollowView {
  private section: string | undefined;
  private current: { stage: string; since: number; text: string; fraction?: number } | undefined;
  private liveShown = false;

  constructor(
    private readonly kind: ViewKind,
    private readonly write: (text: string) => void,
    private readonly address: string,
    private readonly width = 100,
  ) {}

  show(notes: Note[]): void {
    for (const note of notes) this.one(note);
  }

  /** The terminal's live line, redrawn with the stage's elapsed time; `now`: ms since the run started. */
  tick(now: number): void {
    if (this.kind !== 'terminal' || !this.current) return;
    const { stage, since, text, fraction } = this.current;
    const bar =
      fraction === undefined
        ? ''
        : ` [${'#'.repeat(Math.round(fraction * 20)).padEnd(20, '.')}] ${Math.round(fraction * 100)}%`;
    const line = `${stage} ${elapsed(now - since).slice(1)}${bar} ${text}`.slice(0, this.width - 1);
    this.write(`\r\x1b[2K${line}`);
    this.liveShown = true;
  }

  /** Ends the view: closes the open section and the live line, before the summary. */
  close(): void {
    this.clearLive();
    if (this.kind === 'github' && this.section) this.write('::endgroup::\n');
    this.section = undefined;
  }

  private clearLive(): void {
    if (this.liveShown) this.write('\r\x1b[2K');
    this.liveShown = false;
  }

  private lines(lines: string[]): void {
    this.clearLive();
    for (const line of lines) this.write(`${line}\n`);
  }

  private one(note: Note): void {
    if (note.kind === 'start') this.openSection(note.stage);
    if (this.kind === 'terminal') this.follow(note);
    this.lines(plainLines(note, this.address));
    if (note.kind === 'end' && note.status !== 'passed') this.lines(this.failureMarks(note));
    if (note.kind === 'end' && this.kind === 'github' && this.section === note.stage) {
      this.write('::endgroup::\n');
      this.section = undefined;
    }
    if (note.kind === 'run-end') this.close();
    if (note.kind !== 'live') this.tick(note.at);
  }

  private openSection(stage: string): void {
    if (this.section === stage) return;
    if (this.kind === 'buildkite') this.write(`--- ${BUILDKITE_EMOJI[stage] ?? ':gear:'} ${stage}\n`);
    if (this.kind === 'github') {
      if (this.section) this.write('::endgroup::\n');
      this.write(`::group::${stage}\n`);
    }
    this.section = stage;
  }

  /** Buildkite opens the section of a failed stage (`^^^ +++`); GitHub annotates each failed check or stage. */
  private failureMarks(note: Extract<Note, { kind: 'end' }>): string[] {
    if (this.kind === 'buildkite') return ['^^^ +++'];
    if (this.kind !== 'github') return [];
    const checks = note.failedChecks.map(
      (check) =>
        `::error title=${note.stage}::${githubEscape(`check ${check.name} failed${check.detail ? `: ${check.detail}` : ''}`)}`,
    );
    return checks.length > 0
      ? checks
      : [`::error title=${note.stage}::${githubEscape(`stage ${note.stage} ${note.status}: ${note.error ?? ''}`)}`];
  }

  private follow(note: Note): void {
    if (note.kind === 'start') this.current = { stage: note.stage, since: note.at, text: note.summary ?? '' };
    else if (note.kind === 'end' && this.current?.stage === note.stage) this.current = undefined;
    else if (this.current && 'stage' in note && note.stage === this.current.stage) {
      if (note.kind === 'progress') this.current = { ...this.current, text: note.text, fraction: note.fraction };
      else if (note.kind === 'detail' || note.kind === 'live')
        this.current = { ...this.current, text: note.text, fraction: this.current.fraction };
    }
  }
}
