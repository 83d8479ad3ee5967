/**
 * Holding a failed run with its servers up: the `retryStage` and `finish` updates, the `state` query, their
 * validators, and the wait for a decision. Deterministic: part of the workflow bundle. The workflow supplies
 * what a retry runs; this module decides when a decision fits the run's state.
 */
import {
  condition,
  defineQuery,
  defineUpdate,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { InvalidConfigError, resolveConfig, RETRY_OVERRIDE_FIELDS, type Config } from '../config/schema.js';
import type { Check, StageReport, StageStatus } from '../report/types.js';

export interface RetryStageInput {
  stage: string;
  /** Workload knobs and thresholds for this attempt (RETRY_OVERRIDE_FIELDS), as the run's input spells them. */
  config?: Record<string, unknown>;
}

/** What `retryStage` returns: the stage's new outcome. */
export interface RetriedStage {
  stage: string;
  status: StageStatus;
  retry: number;
  checks: Check[];
  error?: string;
  overrides?: StageReport['overrides'];
  seed?: number;
}

export type RunPhase =
  | { phase: 'running'; stage: string }
  | { phase: 'held'; stage: string; reason: string; retryCommand: string; finishCommand: string }
  | { phase: 'done'; verdict: string };

export const retryStageUpdate = defineUpdate<RetriedStage, [RetryStageInput]>('retryStage');
export const finishUpdate = defineUpdate<string, []>('finish');
export const stateQuery = defineQuery<RunPhase>('state');

/** The retry the workflow runs for a validated decision. */
export interface RetryRequest {
  stage: string;
  retry: number;
  config: Config;
  overrides: NonNullable<StageReport['overrides']>;
}

export interface HoldHooks {
  /** Stages a retry may rerun, in pipeline order (health, benchmarks, script stages). */
  retryableStages: string[];
  /** Stages that have run at least once. */
  ranStages: () => string[];
  config: Config;
  retry: (request: RetryRequest) => Promise<RetriedStage>;
  /** Called whenever the run's phase changes, so the search attributes follow. */
  onPhaseChange: () => void;
  /** The run's current verdict, for `finish`'s answer. */
  verdict: () => string;
}

export function retryCommand(workflowId: string, stage: string): string {
  return `temporal workflow update execute --workflow-id ${workflowId} --name retryStage --input '${JSON.stringify({ stage })}'`;
}

export function finishCommand(workflowId: string): string {
  return `temporal workflow update execute --workflow-id ${workflowId} --name finish`;
}

/**
 * Checks a retry's overrides against RETRY_OVERRIDE_FIELDS and the schema; returns the attempt's configuration
 * and the overridden values beside the run's. Throws an Error naming the field otherwise.
 */
export function applyOverrides(
  config: Config,
  overrides: unknown,
  workflowId: string,
): { config: Config; overrides: RetryRequest['overrides'] } {
  if (overrides === undefined || overrides === null) return { config, overrides: {} };
  if (typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw new Error('config: must be a JSON object of workload knobs and thresholds');
  }
  const allowed: readonly string[] = RETRY_OVERRIDE_FIELDS;
  const refused = Object.keys(overrides).filter((key) => !allowed.includes(key));
  if (refused.length > 0) {
    throw new Error(
      `config.${refused.join(', config.')}: retryStage cannot override ${refused.length === 1 ? 'this field' : 'these fields'} ` +
        `(the servers that stay up were launched with it); allowed: ${allowed.join(', ')}`,
    );
  }
  let attempt: Config;
  try {
    attempt = resolveConfig({ ...config, ...overrides }, { workflowId });
  } catch (error) {
    if (error instanceof InvalidConfigError) throw new Error(error.message);
    throw error;
  }
  const changed: RetryRequest['overrides'] = {};
  for (const key of Object.keys(overrides) as (keyof Config)[]) {
    if (attempt[key] !== config[key]) changed[key] = { original: config[key], overridden: attempt[key] };
  }
  return { config: attempt, overrides: changed };
}

/** The markdown the Temporal UI shows as the held run's current details. */
function heldDetails(workflowId: string, stage: string, reason: string, holdMinutes: number): string {
  return [
    `**Held** on stage \`${stage}\`: ${reason}`,
    '',
    `The servers stay up for at most ${holdMinutes} min. Retry the stage (optionally with \`"config": {…}\` overrides):`,
    '',
    `    ${retryCommand(workflowId, stage)}`,
    '',
    'or end the run with its current verdict:',
    '',
    `    ${finishCommand(workflowId)}`,
  ].join('\n');
}

/**
 * The run's decisions. `held` is set by `wait` and cleared while a retry runs; handlers are registered at
 * once, so an update sent to a run that is not held is refused by its validator rather than left waiting.
 */
export class Hold {
  private held: { stage: string; reason: string } | undefined;
  private retrying: string | undefined;
  private decision: 'retried' | 'finish' | undefined;
  private readonly retries = new Map<string, number>();
  private done: string | undefined;
  private current = 'starting';

  constructor(private readonly hooks: HoldHooks) {
    const { workflowId } = workflowInfo();
    setHandler(stateQuery, () => this.phase());
    setHandler(
      retryStageUpdate,
      async (input) => {
        const { stage } = input;
        const { config, overrides } = applyOverrides(hooks.config, input.config, workflowId);
        const retry = (this.retries.get(stage) ?? 0) + 1;
        this.retries.set(stage, retry);
        this.retrying = stage;
        // Not held while the retry runs: a second decision waits for the run to be held again.
        this.held = undefined;
        hooks.onPhaseChange();
        try {
          return await hooks.retry({ stage, retry, config, overrides });
        } finally {
          this.retrying = undefined;
          this.decision = 'retried';
        }
      },
      { validator: (input) => this.validateRetry(input, workflowId) },
    );
    setHandler(
      finishUpdate,
      () => {
        this.decision = 'finish';
        return hooks.verdict();
      },
      {
        validator: () => {
          if (!this.held) throw new Error(`the run is not held (${this.describe()}); finish ends a held run only`);
        },
      },
    );
  }

  get isHeld(): boolean {
    return this.held !== undefined;
  }

  /** What the run is doing, for the `state` query and the hold's refusals. */
  phase(): RunPhase {
    const { workflowId } = workflowInfo();
    if (this.done !== undefined) return { phase: 'done', verdict: this.done };
    if (this.held) {
      return {
        phase: 'held',
        ...this.held,
        retryCommand: retryCommand(workflowId, this.held.stage),
        finishCommand: finishCommand(workflowId),
      };
    }
    return { phase: 'running', stage: this.retrying ?? this.current };
  }

  running(stage: string): void {
    this.current = stage;
  }

  finished(verdict: string): void {
    this.done = verdict;
  }

  /**
   * Holds the run on `stage` until a decision or `holdMinutes`: 'retried' after a `retryStage` completed,
   * 'finish' after `finish`, 'timeout' otherwise. Cancellation ends the wait with its CancelledFailure.
   */
  async wait(stage: string, reason: string, holdMinutes: number): Promise<'retried' | 'finish' | 'timeout'> {
    this.held = { stage, reason };
    this.decision = undefined;
    this.hooks.onPhaseChange();
    setCurrentDetails(heldDetails(workflowInfo().workflowId, stage, reason, holdMinutes));
    try {
      const decided = await condition(() => this.decision !== undefined, `${holdMinutes}m`);
      return decided ? this.decision! : 'timeout';
    } finally {
      this.held = undefined;
    }
  }

  private describe(): string {
    const phase = this.phase();
    return phase.phase === 'done' ? `done: ${phase.verdict}` : `${phase.phase} ${phase.stage}`;
  }

  private validateRetry(input: RetryStageInput, workflowId: string): void {
    if (!this.held) throw new Error(`the run is not held (${this.describe()}); retryStage retries a held run's stage`);
    const stage = (input as RetryStageInput | undefined)?.stage;
    if (typeof stage !== 'string' || !this.hooks.retryableStages.includes(stage)) {
      throw new Error(
        `stage ${JSON.stringify(stage)}: unknown or not retryable; retryable stages: ${this.hooks.retryableStages.join(', ')}`,
      );
    }
    if (!this.hooks.ranStages().includes(stage)) throw new Error(`stage ${stage} has not run in this run`);
    applyOverrides(this.hooks.config, input.config, workflowId);
  }
}
