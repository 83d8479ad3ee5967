/**
 * The stages of one run as steps, in order: placement (claim a node, build there, lease GPUs and ports),
 * launch, health, the benchmarks and the run's test scripts. It knows the run's node and placement, sends each
 * stage there with its options, runs the steps from any point, reruns one for a retry, and says why a run would
 * fail now. Deterministic: part of the workflow bundle.
 */
import { isCancellation, log, proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import type { Config, ConfigInput, StageName } from '../config/schema.js';
import type { ScriptStage } from '../config/scripts.js';
import {
  pinnedPortsOf,
  placedConfig,
  placementFromConfig,
  type PlacedStageInput,
  type RunPlacement,
} from '../placement/placement.js';
import type { RetriedStage, RetryRequest } from './hold.js';
import { CLAIM_OPTIONS, MAX_NODE_CLAIMS, nodeLost, nodeLostMessage, pinnedTo } from './placement.js';
import { failureOf, type RunRecord } from './run-record.js';
import { scriptStageOptions, stageOptions, type OptionedStage } from './stage-options.js';

const BENCHMARKS = [
  { stage: 'lm_eval', activity: 'runLmEval' },
  { stage: 'vllm_bench', activity: 'runVllmBench' },
  { stage: 'long_doc_qa', activity: 'runLongDocQa' },
] as const;

/** Markers of what a run's recorded history already did, so runs started before a change replay its path. */
export interface PipelineVersions {
  /** Runs claim a node and lease ports (before: the shared queue and the configured ports). */
  placesRuns: boolean;
  /** Runs check their servers before a stage and can be held (before: neither). */
  holds: boolean;
}

interface Step {
  name: string;
  /** Placement and launch are never retried by hand: the servers come from them. */
  retryable: boolean;
  run: (retry?: RetryRequest) => Promise<unknown>;
}

export class Pipeline {
  private readonly info = workflowInfo();
  private readonly steps: Step[] = [];
  private options: ReturnType<typeof stageOptions>;
  /** Once a node is claimed every stage goes to its own task queue (runs recorded before that: the shared one). */
  private node?: string;
  placement?: RunPlacement;
  private payload: PlacedStageInput;
  /** The step a stage failure stopped the run at; undefined once every step has run. */
  private stoppedAt?: number;

  constructor(
    private readonly config: Config,
    private readonly input: ConfigInput | undefined,
    scriptStages: ScriptStage[],
    private readonly record: RunRecord,
    private readonly versions: PipelineVersions,
  ) {
    this.options = stageOptions(config);
    this.payload = { config, workflowId: this.info.workflowId };
    this.steps.push({ name: 'placement', retryable: false, run: () => this.place() });
    if (this.selected('launch')) {
      const launch = () => this.record.runStage('launch', () => this.act('launch').launchContainers(this.payload));
      this.steps.push({ name: 'launch', retryable: false, run: launch });
    }
    if (this.selected('health'))
      this.steps.push({ name: 'health', retryable: true, run: (retry) => this.health(retry) });
    for (const { stage, activity } of BENCHMARKS) {
      if (!this.selected(stage)) continue;
      const run = (retry?: RetryRequest) =>
        this.record.runCheckedStage(
          stage,
          async () => {
            await this.ensureServers(retry);
            const input = retry ? { ...this.payload, config: retry.config, retry: retry.retry } : this.payload;
            return this.act(stage)[activity](input);
          },
          retry,
        );
      this.steps.push({ name: stage, retryable: true, run });
    }
    for (const script of scriptStages) {
      this.steps.push({ name: script.name, retryable: true, run: (retry) => this.script(script, retry) });
    }
  }

  /** Stages a retry may rerun, in pipeline order. */
  get retryableStages(): string[] {
    return this.steps.filter((step) => step.retryable).map((step) => step.name);
  }

  /** Runs the steps from `from` on; a stage failure stops there and stands as the run's failure. */
  async runFrom(from = 0): Promise<void> {
    for (let index = from; index < this.steps.length; index++) {
      try {
        await this.steps[index].run();
      } catch (error) {
        if (isCancellation(error)) throw error;
        this.stoppedAt = index;
        this.record.stopAtLastStage(error);
        return;
      }
    }
    this.stoppedAt = undefined;
  }

  /** Reruns one stage for a `retryStage`; when it passes where the run had stopped, the later steps run too. */
  async retry(request: RetryRequest): Promise<RetriedStage> {
    const index = this.steps.findIndex((step) => step.name === request.stage);
    try {
      await this.steps[index].run(request);
      if (index === this.stoppedAt) this.record.stageFailure = undefined;
    } catch (error) {
      if (isCancellation(error)) throw error;
      if (index === this.stoppedAt)
        this.record.stageFailure = { stage: request.stage, message: failureOf(error).message };
    }
    const outcome = this.record.stages[this.record.stages.length - 1];
    this.record.publish();
    return {
      stage: request.stage,
      status: outcome.status,
      retry: request.retry,
      checks: this.record.checks.filter((check) => check.name.startsWith(`${request.stage}.`)),
      ...(outcome.error ? { error: outcome.error } : {}),
      ...(outcome.overrides ? { overrides: outcome.overrides } : {}),
      ...(outcome.seed !== undefined ? { seed: outcome.seed } : {}),
    };
  }

  /** After a retried stage passed where it had stopped the run: the stages it had stopped. */
  async resumeAfterRetry(): Promise<void> {
    if (this.stoppedAt !== undefined && !this.record.stageFailure) await this.runFrom(this.stoppedAt + 1);
  }

  /** Why the run would fail now, if it would and a retry could change that: the stage to hold on and the reason. */
  holdReason(): { stage: string; reason: string } | undefined {
    const failure = this.record.stageFailure;
    if (failure) {
      if (this.stoppedAt === undefined || !this.steps[this.stoppedAt].retryable) return undefined;
      return { stage: this.steps[this.stoppedAt].name, reason: failure.message };
    }
    const failed = this.record.firstFailedCheck();
    if (!failed) return undefined;
    const stage = this.steps.find((step) => failed.name.startsWith(`${step.name}.`))?.name ?? failed.name.split('.')[0];
    return { stage, reason: `check ${failed.name} failed${failed.detail ? `: ${failed.detail}` : ''}` };
  }

  /** Saves the containers' log tails and removes them; the caller makes it non-cancellable. */
  async cleanup(): Promise<void> {
    const input = { workflowId: this.info.workflowId, resultsDir: this.config.resultsDir };
    await this.record.runStage('cleanup', () => this.act('cleanup').cleanupContainers(input));
  }

  async writeReport(report: Parameters<PipelineActivities['writeReport']>[0]): Promise<void> {
    const history = {
      regressionMarginPercent: this.config.regressionMarginPercent,
      historyRuns: this.config.historyRuns,
    };
    await this.act('report').writeReport(report, history);
  }

  /** For a stage no worker picked up in time: the message naming the run's node as gone. */
  lostNodeMessage(error: unknown, stage: string): string | undefined {
    return this.node && nodeLost(error) ? nodeLostMessage(this.node, stage, this.placement !== undefined) : undefined;
  }

  private selected(stage: StageName): boolean {
    return this.config.stages.includes(stage);
  }

  private onNode(): ActivityOptions {
    return this.node ? pinnedTo(this.info.taskQueue, this.node, this.placement !== undefined) : {};
  }

  private act(stage: OptionedStage) {
    return proxyActivities<PipelineActivities>({ ...this.options[stage], ...this.onNode() });
  }

  /** Claims a node and builds there, leases GPUs and ports; every later stage gets the placement in its input. */
  private async place(): Promise<void> {
    const { config, record } = this;
    if (this.versions.placesRuns) await this.claimBuildAndLease();
    else {
      if (this.selected('build')) await this.build();
      if (this.selected('launch') && config.profile === 'gpu') {
        const gpus = await record.runStage('select_gpus', () => this.act('select_gpus').selectGpus(config));
        this.placement = placementFromConfig(config, this.info.taskQueue, gpus);
      }
    }
    // Stages that find servers another run launched (STAGES without launch) use the configured ports.
    this.placement ??= placementFromConfig(config, this.node ?? this.info.taskQueue);
    this.payload = { ...this.payload, placement: this.placement };
    this.options = stageOptions(placedConfig(config, this.placement));
  }

  /**
   * Claims a node (whichever worker picks the claim up on the shared queue), builds there and leases two GPUs and
   * ports. A node whose worker is gone before launch is left for another, up to MAX_NODE_CLAIMS nodes.
   */
  private async claimBuildAndLease(): Promise<void> {
    const { config, record } = this;
    for (let claim = 1; ; claim++) {
      const recorded = record.stages.length;
      this.node = (await proxyActivities<PipelineActivities>(CLAIM_OPTIONS).claimNode()).node;
      log.info('node claimed', { node: this.node, claim });
      try {
        if (this.selected('build')) await this.build();
        if (!this.selected('launch')) return;
        const lease = () =>
          this.act('select_gpus').leaseResources({
            config,
            workflowId: this.info.workflowId,
            pinnedPorts: pinnedPortsOf(this.input),
          });
        this.placement = (await record.runStage('select_gpus', lease)).placement;
        return;
      } catch (error) {
        if (!nodeLost(error) || claim >= MAX_NODE_CLAIMS) throw error;
        log.warn('node lost before launch; claiming another', { node: this.node, claim });
        record.forgetAfter(recorded);
        this.node = undefined;
      }
    }
  }

  /** Builds the image; later stages run what it made or found (with LMCACHE_REF, the commit's own tag). */
  private async build(): Promise<void> {
    const built = await this.record.runStage('build', () => this.act('build').buildImage(this.config));
    this.config.image = built.image;
    this.record.commit = built.commit;
    if (built.skipped) this.record.stages[this.record.stages.length - 1].detail = built.skipped;
  }

  /**
   * Before a stage that needs the servers: this run's three containers exist and are healthy, relaunching a
   * missing one (a reset run's, cleaned up) and, for a retry, a dead one. Cheap when all is up.
   */
  private async ensureServers(retry?: RetryRequest): Promise<void> {
    if (!this.versions.holds || !this.selected('launch')) return;
    await this.act('ensure_servers').ensureServers({ ...this.payload, relaunchDead: retry !== undefined });
  }

  private health(retry?: RetryRequest) {
    const wait = async () => {
      if (retry) await this.ensureServers(retry);
      return this.act('health').waitForHealth(this.payload);
    };
    return this.record.runStage('health', wait, retry);
  }

  private script(script: ScriptStage, retry?: RetryRequest) {
    const config = retry?.config ?? this.config;
    const activity = proxyActivities<PipelineActivities>({ ...scriptStageOptions(config, script), ...this.onNode() });
    const run = async () => {
      await this.ensureServers(retry);
      return activity.runScriptStage({ ...this.payload, config, stage: script });
    };
    return this.record.runCheckedStage(script.name, run, retry);
  }
}
