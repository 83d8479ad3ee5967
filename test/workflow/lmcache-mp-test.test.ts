/**
 * The workflow's logic against a real local Temporal server, with test activities in place of the real ones:
 * stage order, cleanup on every path, retry behaviour, and the report.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { ConfigInput } from '../../src/config/schema.js';
import { FailureType } from '../../src/failures.js';
import type { RunReport } from '../../src/report/types.js';
import { lmcacheMpTest } from '../../src/workflows/lmcache-mp-test.js';
import { SA } from '../../src/workflows/search-attributes.js';
import {
  failing,
  LONG_DOC_QA_COUNTERS,
  NODE,
  passing,
  PLACEMENT,
  testActivities,
  UNREACHABLE_METRICS,
  type Calls,
} from '../helpers/pipeline-activities.js';
import { createLocalEnvironment, workflowBundle } from '../helpers/temporal.js';

describe('lmcacheMpTest workflow on a real Temporal server', { timeout: 180_000 }, () => {
  let env: TestWorkflowEnvironment;
  let taskQueueCounter = 0;

  before(async () => {
    env = await createLocalEnvironment();
  });
  after(async () => {
    await env?.teardown();
  });

  /** Runs the workflow with the given activities on its own task queue; returns the handle's outcome. */
  async function run(
    activities: ReturnType<typeof testActivities>,
    input: ConfigInput,
    during?: (handle: WorkflowHandle<typeof lmcacheMpTest>) => Promise<void>,
  ): Promise<{
    report: RunReport | undefined;
    error: unknown;
    handle: WorkflowHandle<typeof lmcacheMpTest>;
    details: string;
  }> {
    const taskQueue = `test-${++taskQueueCounter}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities,
      maxHeartbeatThrottleInterval: '200ms',
    });
    // The claimed node's own queue, as a worker with NODE_NAME=node-a polls it.
    const nodeWorker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: `${taskQueue}@${NODE}`,
      activities,
      maxHeartbeatThrottleInterval: '200ms',
    });
    return nodeWorker.runUntil(() =>
      worker.runUntil(async () => {
        const handle = await env.client.workflow.start(lmcacheMpTest, {
          taskQueue,
          workflowId: `wf-${taskQueue}`,
          // A gpu run must name its LMCache checkout; these tests are about the workflow, not that refusal.
          args: [input.profile === 'sim' ? input : { lmcacheRepoDir: '/src/LMCache', ...input }],
        });
        if (during) await during(handle);
        const outcome = await handle.result().then(
          (report) => ({ report, error: undefined }),
          (error: unknown) => ({ report: undefined, error }),
        );
        // What the Temporal UI shows as the run's current details, read while the worker can still answer.
        const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
        return { ...outcome, handle, details: metadata.currentDetails ?? '' };
      }),
    );
  }

  function failureReport(error: unknown): { type: string | undefined; report: RunReport; message: string } {
    assert.ok(error instanceof WorkflowFailedError, `expected a failed workflow, got ${error}`);
    const cause = error.cause;
    assert.ok(cause instanceof ApplicationFailure);
    return { type: cause.type ?? undefined, report: cause.details?.[0] as RunReport, message: cause.message };
  }

  it('runs the stages in order and returns a report of every stage and check', async () => {
    const calls: Calls = [];
    const { report, error, handle } = await run(testActivities(calls), {
      profile: 'gpu',
      lmcacheRepoDir: '/src/LMCache',
    });
    assert.equal(error, undefined);
    assert.deepEqual(calls, [
      'checkInputFiles',
      'claimNode',
      'buildImage',
      'leaseResources',
      'launchContainers',
      'waitForHealth',
      'ensureServers',
      'runLmEval',
      'ensureServers',
      'runVllmBench',
      'ensureServers',
      'runLongDocQa',
      'cleanupContainers',
      'writeReport',
    ]);
    assert.ok(report);
    assert.equal(report.passed, true);
    assert.deepEqual(report.placement, PLACEMENT);
    assert.equal((await handle.describe()).typedSearchAttributes.get(SA.verdict), 'passed');
    assert.equal(report.resultsDir, '/tmp/lmcache_ci_results_wf-test-1');
    assert.deepEqual(
      report.stages.map((stage) => [stage.name, stage.status, stage.durationMs]),
      [
        ['build', 'passed', 5],
        ['select_gpus', 'passed', 5],
        ['launch', 'passed', 5],
        ['health', 'passed', 5],
        ['lm_eval', 'passed', 5],
        ['vllm_bench', 'passed', 5],
        ['long_doc_qa', 'passed', 5],
        ['cleanup', 'passed', 5],
      ],
    );
    assert.deepEqual(
      report.checks.map((check) => check.name),
      ['lm_eval.samples_identical', 'vllm_bench.throughput', 'long_doc_qa.query_ttft_per_prompt'],
    );
    assert.deepEqual(report.longDocQaComparison, [{ metric: 'query_ttft_per_prompt', baseline: 1.2, lmcache: 0.1 }]);
    // LMCache's counters are the stage's, as its activity read them, whether or not they could be read.
    const countersOf = (name: string) => report.stages.find((stage) => stage.name === name)?.lmcacheCounters;
    assert.deepEqual(countersOf('vllm_bench'), [{ run: 'lmcache', unavailable: UNREACHABLE_METRICS }]);
    assert.deepEqual(countersOf('long_doc_qa'), [{ run: 'lmcache', deltas: LONG_DOC_QA_COUNTERS }]);
    assert.equal(countersOf('lm_eval'), undefined);
  });

  it('runs only the selected stages, leases GPUs in sim too, and still cleans up', async () => {
    const calls: Calls = [];
    const { report } = await run(testActivities(calls), { profile: 'sim', stages: ['launch', 'health', 'vllm_bench'] });
    assert.deepEqual(calls, [
      'claimNode',
      'leaseResources',
      'launchContainers',
      'waitForHealth',
      'ensureServers',
      'runVllmBench',
      'cleanupContainers',
      'writeReport',
    ]);
    assert.deepEqual(
      report!.stages.filter((stage) => stage.status === 'skipped').map((stage) => stage.name),
      ['build', 'lm_eval', 'long_doc_qa'],
    );
  });

  it('after a failed check: keeps running the other benchmarks, cleans up, then fails with the report', async () => {
    const calls: Calls = [];
    let benchAttempts = 0;
    const activities = testActivities(calls, {
      runVllmBench: async () => {
        benchAttempts++;
        const checks = [failing('vllm_bench.throughput'), passing('vllm_bench.lmcache.completed')];
        return { checks, durationMs: 42, attempt: 1 };
      },
    });
    const { error, details } = await run(activities, {});
    assert.equal(benchAttempts, 1, 'a failed check is not retried');
    assert.match(details, /^\*\*FAILED · failed stage vllm_bench/);
    assert.match(details, /\| vllm_bench \| failed: 1 check failed: vllm_bench\.throughput \| 0\.0 \|/);
    assert.deepEqual(calls.slice(-5), [
      'runVllmBench',
      'ensureServers',
      'runLongDocQa',
      'cleanupContainers',
      'writeReport',
    ]);
    const { type, report, message } = failureReport(error);
    assert.equal(type, FailureType.ChecksFailed);
    assert.match(message, /1 check\(s\) failed: vllm_bench\.throughput/);
    assert.equal(report.passed, false);
    const bench = report.stages.find((stage) => stage.name === 'vllm_bench')!;
    assert.deepEqual(
      [bench.status, bench.durationMs, bench.errorType, bench.error],
      ['failed', 42, FailureType.BenchmarkCheckFailed, '1 check failed: vllm_bench.throughput'],
    );
    assert.deepEqual(
      report.checks.map((check) => [check.name, check.passed, check.value, check.limit]),
      [
        ['lm_eval.samples_identical', true, 1, 1],
        ['vllm_bench.throughput', false, 0.9, 0.5],
        ['vllm_bench.lmcache.completed', true, 1, 1],
        ['long_doc_qa.query_ttft_per_prompt', true, 1, 1],
      ],
    );
  });

  it('says so when the selected stages hold no check', async () => {
    const stages: ConfigInput['stages'] = ['build', 'launch', 'health'];
    const { report, details } = await run(testActivities([]), { profile: 'sim', stages });
    assert.equal(report!.passed, true);
    assert.deepEqual(report!.checks, []);
    assert.match(details, /^\*\*PASSED — no checks selected\*\*/);
  });

  it('retries an infrastructure error and then goes on', async () => {
    const calls: Calls = [];
    let attempts = 0;
    const activities = testActivities(calls, {
      waitForHealth: async () => {
        if (++attempts < 2) throw new Error('connect ECONNREFUSED /var/run/docker.sock');
        return { servers: [], finishedAt: 0, durationMs: 7, attempt: Context.current().info.attempt };
      },
    });
    const { report } = await run(activities, {});
    assert.equal(attempts, 2);
    assert.equal(report!.passed, true);
    assert.deepEqual(
      report!.stages.find((stage) => stage.name === 'health'),
      { name: 'health', status: 'passed', durationMs: 7, attempts: 2 },
    );
  });

  it('after an activity error: stops the run, skips the rest, cleans up, and fails naming the stage', async () => {
    const calls: Calls = [];
    const activities = testActivities(calls, {
      launchContainers: async () => {
        throw ApplicationFailure.create({
          type: FailureType.ContainerExited,
          message: 'container vllm-mp-test-x exited',
          details: [{ durationMs: 9 }],
        });
      },
    });
    const { error } = await run(activities, {});
    assert.equal(calls.filter((call) => call === 'launchContainers').length, 1, 'ContainerExited is not retried');
    assert.deepEqual(calls.slice(-2), ['cleanupContainers', 'writeReport']);
    assert.ok(!calls.includes('waitForHealth'));
    const { type, report, message } = failureReport(error);
    assert.equal(type, FailureType.StageFailed);
    assert.match(message, /^stage launch failed: container vllm-mp-test-x exited/);
    assert.deepEqual(
      report.stages.map((stage) => [stage.name, stage.status]),
      [
        ['build', 'passed'],
        ['select_gpus', 'passed'],
        ['launch', 'failed'],
        ['health', 'skipped'],
        ['lm_eval', 'skipped'],
        ['vllm_bench', 'skipped'],
        ['long_doc_qa', 'skipped'],
        ['cleanup', 'passed'],
      ],
    );
  });

  it('after cancellation: cleans up and ends as cancelled', async () => {
    const calls: Calls = [];
    let healthStarted!: () => void;
    const started = new Promise<void>((resolve) => (healthStarted = resolve));
    const activities = testActivities(calls, {
      waitForHealth: async () => {
        healthStarted();
        // Wait as a real health check would, heartbeating, until the cancellation arrives.
        try {
          for (;;) {
            Context.current().heartbeat('waiting');
            await Context.current().sleep(200);
          }
        } finally {
          calls.push('waitForHealth stopped');
        }
      },
    });
    const { error, handle } = await run(activities, { stages: ['launch', 'health', 'lm_eval'] }, async (h) => {
      await started;
      await h.cancel();
    });
    assert.ok(error instanceof WorkflowFailedError);
    const description = await handle.describe();
    assert.equal(description.status.name, 'CANCELLED');
    assert.equal(description.typedSearchAttributes.get(SA.verdict), 'cancelled');
    const failedStage = description.typedSearchAttributes.get(SA.failedStage);
    assert.equal(failedStage, undefined, 'a cancelled stage is not a failed one');
    assert.deepEqual(
      calls.slice(-3),
      ['waitForHealth stopped', 'cleanupContainers', 'writeReport'],
      'cleanup waits for the stage to stop',
    );
    assert.ok(!calls.includes('runLmEval'));
  });

  it('keeps its search attributes current: running with identity at start, then verdict, failure and figures', async () => {
    const calls: Calls = [];
    let whileRunning: Record<string, unknown> | undefined;
    const activities = testActivities(calls, {
      runLmEval: async () => {
        const self = env.client.workflow.getHandle(Context.current().info.workflowExecution!.workflowId);
        const attributes = (await self.describe()).typedSearchAttributes;
        whileRunning = {
          verdict: attributes.get(SA.verdict),
          profile: attributes.get(SA.profile),
          buildId: attributes.get(SA.buildId),
        };
        return { checks: [passing('lm_eval.samples_identical')], durationMs: 5, attempt: 1 };
      },
      runVllmBench: async () => ({
        checks: [{ name: 'vllm_bench.throughput', passed: true, value: 990, limit: 950 }],
        durationMs: 5,
        attempt: 1,
      }),
      // Checks are the outcome, failing ones too: only the workflow fails the run.
      runLongDocQa: async () => ({
        checks: [
          { ...failing('long_doc_qa.query_ttft_per_prompt'), value: 0.4, limit: 0.1 },
          passing('long_doc_qa.query_round_time_per_prompt'),
        ],
        durationMs: 5,
        attempt: 1,
      }),
    });
    const { error, handle } = await run(activities, { profile: 'sim', buildId: 'b42' });
    assert.deepEqual(whileRunning, { verdict: 'running', profile: 'sim', buildId: 'b42' });
    assert.equal(failureReport(error).type, FailureType.ChecksFailed);
    const attributes = (await handle.describe()).typedSearchAttributes;
    assert.equal(attributes.get(SA.verdict), 'failed');
    assert.equal(attributes.get(SA.model), 'sim/greedy-echo');
    assert.equal(attributes.get(SA.failedStage), 'long_doc_qa');
    assert.deepEqual(attributes.get(SA.failedChecks), ['long_doc_qa.query_ttft_per_prompt']);
    assert.equal(attributes.get(SA.queryTtft), 0.4);
    assert.equal(attributes.get(SA.queryRoundTime), 1);
    // 990 tok/s against a minimum of 950 = baseline × 0.95, so the baseline made 1000.
    assert.ok(Math.abs(attributes.get(SA.throughputRatio)! - 0.99) < 1e-9);
  });

  it('refuses bad input before any activity runs', async () => {
    const calls: Calls = [];
    const { error } = await run(testActivities(calls), { vllmPort: 9000 });
    const { type, message } = failureReport(error);
    assert.equal(type, FailureType.InvalidConfig);
    assert.match(message, /vllmBaselinePort: port 9000 is already used by vllmPort/);
    assert.deepEqual(calls, []);
  });
  it('runs the scripts after the benchmarks, each a stage with its own check, reported before cleanup', async () => {
    const calls: Calls = [];
    const stagesRun: string[] = [];
    const activities = testActivities(calls, {
      runScriptStage: async ({ stage }: { stage: { name: string; path: string } }) => {
        stagesRun.push(`${stage.name}:${stage.path}`);
        const exitCode = stage.name === 'exit_three' ? 3 : 0;
        const check = { name: `${stage.name}.exit_code`, passed: exitCode === 0, value: exitCode, limit: 0 };
        // Checks are the outcome, passing or failing: only the workflow fails the run.
        return { checks: [check], durationMs: 11, attempt: 1 };
      },
    });
    const scripts = ['t/run-exit-three.sh', 't/run-env-check.sh'];
    const { error } = await run(activities, { profile: 'sim', stages: ['launch', 'health', 'vllm_bench'], scripts });
    assert.deepEqual(calls, [
      'checkInputFiles',
      'claimNode',
      'leaseResources',
      'launchContainers',
      'waitForHealth',
      'ensureServers',
      'runVllmBench',
      'ensureServers',
      'runScriptStage',
      'ensureServers',
      'runScriptStage',
      'cleanupContainers',
      'writeReport',
    ]);
    // A failed script does not stop the next.
    assert.deepEqual(stagesRun, ['exit_three:t/run-exit-three.sh', 'env_check:t/run-env-check.sh']);
    const { type, report, message } = failureReport(error);
    assert.equal(type, FailureType.ChecksFailed);
    assert.match(message, /1 check\(s\) failed: exit_three\.exit_code/);
    assert.deepEqual(
      report.stages.map((stage) => [stage.name, stage.status]),
      [
        ['build', 'skipped'],
        ['select_gpus', 'passed'],
        ['launch', 'passed'],
        ['health', 'passed'],
        ['lm_eval', 'skipped'],
        ['vllm_bench', 'passed'],
        ['long_doc_qa', 'skipped'],
        ['exit_three', 'failed'],
        ['env_check', 'passed'],
        ['cleanup', 'passed'],
      ],
    );
    assert.deepEqual(
      report.checks.map((check) => [check.name, check.passed]),
      [
        ['vllm_bench.throughput', true],
        ['exit_three.exit_code', false],
        ['env_check.exit_code', true],
      ],
    );
  });

  it('reports the scripts as skipped when an earlier stage failed', async () => {
    const calls: Calls = [];
    const activities = testActivities(calls, {
      waitForHealth: async () => {
        const details = [{ durationMs: 3 }];
        throw ApplicationFailure.create({ type: FailureType.ServersNotHealthy, message: 'not healthy', details });
      },
    });
    const input: ConfigInput = { profile: 'sim', stages: ['launch', 'health'], scripts: ['t/run-my-test.sh'] };
    const { error } = await run(activities, input);
    assert.ok(!calls.includes('runScriptStage'));
    const { report } = failureReport(error);
    const lastStages = report.stages.slice(-2).map((stage) => [stage.name, stage.status]);
    assert.deepEqual(lastStages, [
      ['my_test', 'skipped'],
      ['cleanup', 'passed'],
    ]);
  });

  it('sends every stage after the claim to the node, with the leased placement in its payload', async () => {
    const seen: string[] = [];
    const calls: Calls = [];
    const where = (name: string) => async (input: { placement?: unknown }) => {
      const { taskQueue } = Context.current().info;
      const placed = input?.placement === undefined ? 'no placement' : JSON.stringify(input.placement);
      seen.push(`${name} on ${taskQueue}: ${name === 'writeReport' ? 'report' : placed}`);
      const nothing = { checks: [], servers: [], finishedAt: 0, containers: [], removed: [], logFiles: [], files: [] };
      return { ...nothing, durationMs: 5, attempt: 1 };
    };
    const activities = testActivities(calls, {
      launchContainers: where('launchContainers'),
      waitForHealth: where('waitForHealth'),
      runLmEval: where('runLmEval'),
      writeReport: where('writeReport'),
    });
    const { report } = await run(activities, { profile: 'sim', stages: ['launch', 'health', 'lm_eval'] });
    const queue = `test-${taskQueueCounter}@${NODE}`;
    const placed = JSON.stringify(PLACEMENT);
    assert.deepEqual(seen, [
      `launchContainers on ${queue}: ${placed}`,
      `waitForHealth on ${queue}: ${placed}`,
      `runLmEval on ${queue}: ${placed}`,
      `writeReport on ${queue}: report`,
    ]);
    assert.deepEqual(report!.placement, PLACEMENT);
  });

  it('claims another node when the first node has no worker before launch', async () => {
    const calls: Calls = [];
    const claims = ['node-gone', NODE];
    const activities = testActivities(calls, { claimNode: async () => ({ node: claims.shift()! }) });
    const { report } = await run(activities, { profile: 'sim', stages: ['launch', 'health'] });
    assert.equal(report!.passed, true);
    assert.deepEqual(report!.placement, PLACEMENT);
    assert.deepEqual(
      report!.stages.filter((stage) => stage.status !== 'skipped').map((stage) => [stage.name, stage.status]),
      [
        ['select_gpus', 'passed'],
        ['launch', 'passed'],
        ['health', 'passed'],
        ['cleanup', 'passed'],
      ],
      "the lost node's abandoned lease is not reported",
    );
  });

  it('refuses a script the worker node cannot run, before any stage starts', async () => {
    const calls: Calls = [];
    const activities = testActivities(calls, {
      checkInputFiles: async () => {
        const message = 'scripts.0: t/run-a.sh is not executable';
        throw ApplicationFailure.create({ type: FailureType.InvalidConfig, message, nonRetryable: true });
      },
    });
    const { error } = await run(activities, { profile: 'sim', scripts: ['t/run-a.sh'] });
    const { type, message } = failureReport(error);
    assert.equal(type, FailureType.InvalidConfig);
    assert.match(message, /scripts\.0: t\/run-a\.sh is not executable/);
    assert.deepEqual(calls, ['checkInputFiles'], 'checked once (not retried), and nothing else ran');
  });

  it("checks a gpu run's checkout and a model path on the node before anything starts", async () => {
    const calls: Calls = [];
    const activities = testActivities(calls, {
      checkInputFiles: async () => {
        const message = 'model: /models/missing (MODEL) is not a directory on this node';
        throw ApplicationFailure.create({ type: FailureType.InvalidConfig, message, nonRetryable: true });
      },
    });
    const { error } = await run(activities, { profile: 'sim', model: '/models/missing' });
    assert.match(failureReport(error).message, /model: \/models\/missing \(MODEL\) is not a directory/);
    assert.deepEqual(calls, ['checkInputFiles']);
  });

  it('does not check the node when the input names no file there', async () => {
    const calls: Calls = [];
    await run(testActivities(calls), { profile: 'sim', stages: ['launch'] });
    assert.deepEqual(calls, ['claimNode', 'leaseResources', 'launchContainers', 'cleanupContainers', 'writeReport']);
  });

  it("with LMCACHE_REF: checks the ref first, runs the commit's image, and names the commit everywhere", async () => {
    const calls: Calls = [];
    const commit = {
      sha: 'c0ffee'.padEnd(40, '0'),
      subject: 'slow loads',
      author: 'Dev <d@x>',
      date: '2026-11-01T00:00:00Z',
    };
    const launched: string[] = [];
    const activities = testActivities(calls, {
      buildImage: async () => ({
        image: 'lmcache-mp-sim:c0ffee000000',
        imageId: 'sha256:1',
        steps: [],
        commit,
        skipped: 'image for c0ffee000000 exists',
        durationMs: 5,
        attempt: 1,
      }),
      launchContainers: async (input) => {
        launched.push(input.config.image);
        return { containers: [], durationMs: 5, attempt: 1 };
      },
    });
    const { report, details, handle } = await run(activities, {
      profile: 'sim',
      lmcacheRef: 'main',
      stages: ['build', 'launch'],
    });
    assert.deepEqual(calls.slice(0, 3), ['checkInputFiles', 'claimNode', 'buildImage']);
    assert.deepEqual(launched, ['lmcache-mp-sim:c0ffee000000']);
    assert.deepEqual(report!.commit, commit);
    assert.equal(report!.stages.find((stage) => stage.name === 'build')?.detail, 'image for c0ffee000000 exists');
    assert.match(details, /\| build \| passed: image for c0ffee000000 exists \|/);
    assert.equal((await handle.describe()).typedSearchAttributes.get(SA.commit), commit.sha);
  });
});
