/**
 * Holding a failed run (ON_FAILURE=hold) against a real local Temporal server, with test activities: the
 * state machine, the updates' validators, finish, the hold timeout, cancellation while held, and a verdict
 * that says a threshold was overridden.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { BenchmarkInput } from '../../src/activities/cold-caches.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { FailureType } from '../../src/failures.js';
import type { RunReport } from '../../src/report/types.js';
import { finishUpdate, retryStageUpdate, stateQuery, type RunPhase } from '../../src/workflows/hold.js';
import { lmcacheMpTest } from '../../src/workflows/lmcache-mp-test.js';
import { SA } from '../../src/workflows/search-attributes.js';
import { NODE, testActivities, type Calls } from '../helpers/pipeline-activities.js';
import { createLocalEnvironment, workflowBundle } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

type Handle = WorkflowHandle<typeof lmcacheMpTest>;
const HELD: ConfigInput = { profile: 'sim', onFailure: 'hold', maxLmcacheTtft: 0.001 };

/** long_doc_qa's TTFT check against the attempt's own threshold: 0.05 s measured. */
function longDocQaAgainstThreshold(calls: Calls) {
  return testActivities(calls, {
    runLongDocQa: async (input: BenchmarkInput) => {
      const limit = input.config.maxLmcacheTtft;
      const check = { name: 'long_doc_qa.query_ttft_per_prompt', passed: 0.05 <= limit, value: 0.05, limit };
      return { checks: [check], durationMs: 5, attempt: 1 };
    },
  });
}

const heldOn = (handle: Handle) =>
  waitFor(
    'the run held',
    async () => {
      const state = await handle.query(stateQuery);
      return state.phase === 'held' ? state : undefined;
    },
    { withinMs: 20_000, everyMs: 100 },
  );

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof WorkflowUpdateFailedError, `expected a refused update, got ${error}`);
  return (error.cause as Error).message;
}

async function acceptedUpdates(handle: Handle): Promise<number> {
  const history = await handle.fetchHistory();
  return history.events!.filter((event) => event.workflowExecutionUpdateAcceptedEventAttributes).length;
}

function failureReport(error: unknown): { type?: string; report: RunReport } {
  assert.ok(error instanceof WorkflowFailedError, `expected a failed workflow, got ${error}`);
  const cause = error.cause as ApplicationFailure;
  return { type: cause.type ?? undefined, report: cause.details?.[0] as RunReport };
}

describe('holding a failed run', { timeout: 240_000 }, () => {
  let env: TestWorkflowEnvironment;
  let counter = 0;

  before(async () => {
    env = await createLocalEnvironment();
  });
  after(async () => {
    await env?.teardown();
  });

  async function run<T>(
    activities: ReturnType<typeof testActivities>,
    input: ConfigInput,
    during: (handle: Handle) => Promise<T>,
  ): Promise<{ during: T; report?: RunReport; error?: unknown; handle: Handle }> {
    const taskQueue = `hold-${++counter}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities,
    });
    // The claimed node's own queue, as a worker with NODE_NAME=node-a polls it.
    const nodeWorker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: `${taskQueue}@${NODE}`,
      activities,
    });
    return nodeWorker.runUntil(() =>
      worker.runUntil(async () => {
        const handle = await env.client.workflow.start(lmcacheMpTest, {
          taskQueue,
          workflowId: `wf-${taskQueue}`,
          args: [input],
        });
        const result = await during(handle);
        const outcome = await handle.result().then(
          (report) => ({ report }),
          (error: unknown) => ({ error }),
        );
        return { during: result, ...outcome, handle };
      }),
    );
  }

  it('holds on a failed check, retries the stage with an overridden threshold, and says so in the verdict', async () => {
    const calls: Calls = [];
    const { during, report, handle } = await run(longDocQaAgainstThreshold(calls), HELD, async (handle) => {
      const held = await heldOn(handle);
      const attribute = (await handle.describe()).typedSearchAttributes.get(SA.state);
      const cleanedWhileHeld = calls.includes('cleanupContainers');
      const outcome = await handle.executeUpdate(retryStageUpdate, {
        args: [{ stage: 'long_doc_qa', config: { maxLmcacheTtft: 0.1 } }],
      });
      return { held, attribute, cleanedWhileHeld, outcome };
    });
    assert.equal(during.held.stage, 'long_doc_qa');
    assert.match(during.held.reason, /check long_doc_qa\.query_ttft_per_prompt failed/);
    assert.equal(
      during.held.retryCommand,
      `temporal workflow update execute --workflow-id ${handle.workflowId} --name retryStage --input '{"stage":"long_doc_qa"}'`,
    );
    assert.equal(during.attribute, 'held');
    assert.equal(during.cleanedWhileHeld, false, 'the servers stay up while held');
    assert.equal(during.outcome.status, 'passed');
    assert.deepEqual(during.outcome.overrides, { maxLmcacheTtft: { original: 0.001, overridden: 0.1 } });
    assert.ok(report, 'the run completes once every check passes');
    assert.equal(report.passed, true);
    assert.equal(report.verdict, 'passed-with-overrides');
    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(SA.state), 'passed-with-overrides');
    assert.equal(calls.filter((call) => call === 'launchContainers').length, 1);
    assert.equal(calls.filter((call) => call === 'buildImage').length, 1);
    assert.deepEqual(calls.slice(-4), ['ensureServers', 'runLongDocQa', 'cleanupContainers', 'writeReport']);
    const attempts = report.stages.filter((stage) => stage.name === 'long_doc_qa');
    assert.deepEqual(
      attempts.map((stage) => [stage.status, stage.superseded ?? false, stage.retry, stage.overrides]),
      [
        ['failed', true, undefined, undefined],
        ['passed', false, 1, { maxLmcacheTtft: { original: 0.001, overridden: 0.1 } }],
      ],
    );
    assert.deepEqual(report.checks.find((check) => check.name.startsWith('long_doc_qa.'))?.limit, 0.1);
  });

  it('refuses a decision that does not fit, and writes nothing to the history for it', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let lmEvalStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => (lmEvalStarted = resolve));
    const calls: Calls = [];
    const activities = {
      ...longDocQaAgainstThreshold(calls),
      runLmEval: async () => {
        lmEvalStarted();
        await released;
        return { checks: [], durationMs: 5, attempt: 1 };
      },
    };
    const { during, error, handle } = await run(activities, HELD, async (handle) => {
      await started;
      const running = await refusal(handle.executeUpdate(retryStageUpdate, { args: [{ stage: 'lm_eval' }] }));
      const finishRunning = await refusal(handle.executeUpdate(finishUpdate));
      release();
      await heldOn(handle);
      const unknown = await refusal(handle.executeUpdate(retryStageUpdate, { args: [{ stage: 'no_such_stage' }] }));
      const model = await refusal(
        handle.executeUpdate(retryStageUpdate, { args: [{ stage: 'long_doc_qa', config: { model: 'org/other' } }] }),
      );
      const badValue = await refusal(
        handle.executeUpdate(retryStageUpdate, { args: [{ stage: 'long_doc_qa', config: { maxLmcacheTtft: -1 } }] }),
      );
      const acceptedBeforeFinish = await acceptedUpdates(handle);
      const verdict = await handle.executeUpdate(finishUpdate);
      return { running, finishRunning, unknown, model, badValue, acceptedBeforeFinish, verdict };
    });
    assert.match(during.running, /the run is not held \(running lm_eval\)/);
    assert.match(during.finishRunning, /the run is not held/);
    assert.match(during.unknown, /stage "no_such_stage": unknown or not retryable; retryable stages: health, lm_eval/);
    assert.match(during.model, /config\.model: retryStage cannot override/);
    assert.match(
      during.badValue,
      /invalid configuration:\n {2}- maxLmcacheTtft: Too small: expected number to be >0 \(got -1\)/,
    );
    assert.equal(during.acceptedBeforeFinish, 0, 'a refused update leaves nothing in the history');
    assert.equal(during.verdict, 'failed');
    assert.equal(await acceptedUpdates(handle), 1);
    const { type, report } = failureReport(error);
    assert.equal(type, FailureType.ChecksFailed);
    assert.equal(report.verdict, 'failed');
    assert.deepEqual(calls.slice(-2), ['cleanupContainers', 'writeReport']);
  });

  it('ends a hold nobody decides on after HOLD_MINUTES, cleaned up and failed', async () => {
    const calls: Calls = [];
    const { error, handle } = await run(longDocQaAgainstThreshold(calls), { ...HELD, holdMinutes: 0.02 }, heldOn);
    assert.equal(failureReport(error).type, FailureType.ChecksFailed);
    assert.deepEqual(calls.slice(-2), ['cleanupContainers', 'writeReport']);
    assert.equal((await handle.describe()).typedSearchAttributes.get(SA.state), 'failed');
  });

  it('cancelled while held: cleans up and ends as cancelled', async () => {
    const calls: Calls = [];
    const { error, handle } = await run(longDocQaAgainstThreshold(calls), HELD, async (handle) => {
      await heldOn(handle);
      await handle.cancel();
    });
    assert.ok(error instanceof WorkflowFailedError);
    assert.deepEqual(calls.slice(-2), ['cleanupContainers', 'writeReport']);
    assert.equal((await handle.describe()).typedSearchAttributes.get(SA.state), 'cancelled');
  });

  it('holds a stage that failed after its attempts, and runs the stages it had stopped once a retry passes', async () => {
    const calls: Calls = [];
    let benchCalls = 0;
    const activities = testActivities(calls, {
      runVllmBench: async (input: BenchmarkInput) => {
        if (++benchCalls === 1) {
          throw ApplicationFailure.create({ type: FailureType.OutputParseError, message: 'truncated result file' });
        }
        const check = { name: 'vllm_bench.throughput', passed: true, value: 1, limit: 1 };
        return { checks: [check], durationMs: 5, attempt: 1, seed: input.config.randomSeed + 1000 };
      },
    });
    const input: ConfigInput = { profile: 'sim', onFailure: 'hold' };
    const { during, report } = await run(activities, input, async (handle) => {
      const held: RunPhase = await heldOn(handle);
      const stoppedBefore = calls.includes('runLongDocQa');
      const outcome = await handle.executeUpdate(retryStageUpdate, { args: [{ stage: 'vllm_bench' }] });
      return { held, stoppedBefore, outcome };
    });
    assert.equal(during.held.phase === 'held' && during.held.reason, 'truncated result file');
    assert.equal(during.stoppedBefore, false);
    assert.equal(during.outcome.status, 'passed');
    assert.equal(typeof during.outcome.seed, 'number');
    assert.ok(report);
    assert.equal(report.verdict, 'passed', 'no override: a plain pass');
    assert.deepEqual(
      report.stages.filter((stage) => stage.name === 'long_doc_qa').map((stage) => stage.status),
      ['passed'],
    );
  });
});
