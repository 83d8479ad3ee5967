/**
 * The whole pipeline in the sim profile, started with the `temporal` CLI (and the README's run command),
 * checked from the results directory, the report and the Docker engine. Fault runs prove each check can fail
 * and that no container outlives a run.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { containerName } from '../../src/commands/containers.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { pickSamplesFile } from '../../src/verification/lm-eval.js';
import { parseBenchResult } from '../../src/verification/vllm-bench.js';
import type { RunReport } from '../../src/report/types.js';
import { PROJECT_ROOT } from '../helpers/temporal.js';
import { DevServer, WorkerProcess } from '../helpers/temporal-processes.js';
import { waitFor } from '../helpers/wait.js';
import { exists, leftoverContainers, readReport, removeStrayContainers, resultsDirOf, startRun } from './harness.js';

const TASK_QUEUE = `e2e-${process.pid}`;

describe('sim pipeline end to end', { timeout: 1_200_000 }, () => {
  let server: DevServer;
  let worker: WorkerProcess;

  before(async () => {
    server = await DevServer.start();
    worker = WorkerProcess.start(TASK_QUEUE, { TEMPORAL_ADDRESS: server.address });
    await worker.waitUntilPolling();
  });
  after(async () => {
    await worker?.stop();
    await server?.stop();
    await removeStrayContainers();
  });

  /** `temporal workflow execute` with a JSON input, as a CI job would. */
  async function execute(buildId: string, input: ConfigInput) {
    const workflowId = `e2e-${buildId}`;
    const result = await server.cli([
      'workflow',
      'execute',
      '--type',
      'lmcacheMpTest',
      '--task-queue',
      TASK_QUEUE,
      '--workflow-id',
      workflowId,
      '--input',
      JSON.stringify({ profile: 'sim', buildId, ...input }),
    ]);
    return {
      workflowId,
      exitCode: result.exitCode,
      output: result.all ?? '',
      report: await readReport(resultsDirOf(buildId)),
    };
  }

  /** Waits until the run's three containers exist (launch done). */
  const threeContainers = (workflowId: string) =>
    waitFor(`${workflowId} launched`, async () => (await leftoverContainers(workflowId)).length === 3, {
      withinMs: 120_000,
      everyMs: 500,
    });

  const failedChecks = (report: RunReport) => report.checks.filter((c) => !c.passed).map((c) => c.name);
  const stage = (report: RunReport, name: string) => report.stages.find((s) => s.name === name)!;

  it('passes with the README run command and the real vllm bench serve, every reference result file present and parsed', async () => {
    const buildId = `pass-${process.pid}`;
    const run = await execa('bash', ['scripts/run-mp-test.sh'], {
      cwd: PROJECT_ROOT,
      // The real `vllm bench serve` (PyPI vllm) for vllm_bench: the GPU path's tool, against the sim.
      env: {
        TEMPORAL_ADDRESS: server.address,
        WORKER_RUNNING: '1',
        TASK_QUEUE,
        BUILD_ID: buildId,
        PROFILE: '',
        BENCHMARK_DRIVER: 'upstream',
      },
      reject: false,
      all: true,
    });
    assert.equal(run.exitCode, 0, run.all);
    assert.match(run.all, /PROFILE=sim: nvidia-smi (is not installed|lists no GPU)/);
    assert.match(run.all, /Verdict: PASSED/);

    const dir = resultsDirOf(buildId);
    const report = await readReport(dir);
    assert.equal(report.passed, true);
    assert.deepEqual(
      report.stages.map((s) => [s.name, s.status]),
      [
        ['build', 'passed'],
        ['select_gpus', 'passed'],
        ['launch', 'passed'],
        ['health', 'passed'],
        ['lm_eval', 'passed'],
        ['vllm_bench', 'passed'],
        ['long_doc_qa', 'passed'],
        ['cleanup', 'passed'],
      ],
    );
    assert.ok(report.checks.length >= 14 && report.checks.every((c) => c.passed && !c.reportOnly));
    for (const prefix of ['lm_eval.', 'vllm_bench.', 'long_doc_qa.']) {
      assert.ok(
        report.checks.some((c) => c.name.startsWith(prefix)),
        `a ${prefix} check is reported`,
      );
    }
    // The evidence that LMCache did the work, deciding on its own counters (see README, Results).
    const check = (name: string) => report.checks.find((c) => c.name === name)!;
    for (const name of ['lm_eval.lmcache_served', 'long_doc_qa.lmcache_served']) {
      assert.ok(
        (check(name).value as number) >= (check(name).limit as number) && (check(name).limit as number) > 0,
        name,
      );
    }
    assert.match(check('long_doc_qa.lmcache_served').detail!, /9 of the 12 documents of 2000 tokens/);
    // The real tool's initial test prompt is stored too; its repeat in the benchmark then needs no store.
    assert.equal(check('vllm_bench.lmcache_stored').limit, 20);
    assert.ok((check('vllm_bench.lmcache_stored').value as number) >= 20);
    for (const name of ['vllm_bench.baseline_isolated', 'long_doc_qa.baseline_isolated']) {
      assert.equal(check(name).value, 0, name);
    }

    for (const run of ['first_run', 'second_run']) {
      const files = (await readdir(path.join(dir, 'lm_eval', run), { recursive: true })).map(String);
      const samples = pickSamplesFile(files, 'gsm8k_sim');
      assert.ok(samples, `lm_eval/${run} has a samples file`);
      const lines = (await readFile(path.join(dir, 'lm_eval', run, samples), 'utf8')).trim().split('\n');
      assert.ok(lines.length > 0 && lines.every((line) => typeof JSON.parse(line).doc_id === 'number'));
    }
    for (const name of ['baseline', 'lmcache']) {
      const file = path.join(dir, 'vllm_bench', `${name}.json`);
      const bench = parseBenchResult(await readFile(file, 'utf8'), file);
      assert.equal(bench.completed, 20);
      // The real tool counts the server's usage.prompt_tokens: each prompt plus the chat template's 3-token frame,
      // which the stage measured from the server and the check expects.
      assert.equal(bench.total_input_tokens, 20 * (2000 + 3));
      const tokens = report.checks.find((c) => c.name === `vllm_bench.${name}.total_input_tokens`)!;
      assert.match(tokens.detail!, /20 × \(2000 \+ 3-token chat frame\) = 40060/);
      const log = await readFile(path.join(dir, 'vllm_bench', `${name}.log`), 'utf8');
      assert.match(log.split('\n')[0], /\.venv\/bin\/vllm" "bench" "serve"/, 'the upstream tool ran');
      assert.match(log, /--tokenizer" ".*sim-tokenizer"/);
      assert.doesNotMatch(log, /tokenizer mismatch/, 'the sim tokenizer counts as the server does');
      const qa = JSON.parse(await readFile(path.join(dir, 'long_doc_qa', `${name}_result.json`), 'utf8'));
      assert.ok(
        qa.query_ttft_per_prompt > 0 && qa.query_round_time_per_prompt > 0 && qa.warmup_round_time_per_prompt > 0,
      );
      assert.ok(exists(path.join(dir, 'long_doc_qa', `${name}_output.txt`)));
    }
    const baselineQa = JSON.parse(await readFile(path.join(dir, 'long_doc_qa', 'baseline_result.json'), 'utf8'));
    assert.ok(
      baselineQa.query_ttft_per_prompt >
        report.checks.find((c) => c.name === 'long_doc_qa.query_ttft_per_prompt')!.limit!,
      'the baseline would fail the TTFT limit: LMCache is what passes it',
    );
    for (const file of ['report.md', 'junit.xml']) assert.ok(exists(path.join(dir, file)), file);
    // The real LMCache server's own counters around every benchmark run: KV delivered (chunks loaded, retrieves
    // finished) where LMCache served, not just lookups that hit; nothing at all while only the baseline was served.
    const counters = (name: string) =>
      Object.fromEntries(
        (stage(report, name).lmcacheCounters ?? []).map(({ run, deltas, unavailable }) => {
          assert.ok(deltas, `${name} ${run}: ${unavailable}`);
          return [run, deltas];
        }),
      );
    const lmEval = counters('lm_eval');
    assert.deepEqual(Object.keys(lmEval), ['first_run', 'second_run']);
    assert.ok(lmEval.first_run.finishedStores > 0, 'the first lm_eval run stored into LMCache');
    assert.ok(
      lmEval.second_run.chunksLoaded > 0 && lmEval.second_run.finishedRetrieves > 0,
      'the second lm_eval run was served from LMCache',
    );
    const longDocQa = counters('long_doc_qa');
    assert.ok(
      longDocQa.lmcache.chunksLoaded > 0 && longDocQa.lmcache.finishedRetrieves > 0,
      "the query round was served what LMCache stored, by LMCache's own count",
    );
    const bench = counters('vllm_bench');
    assert.ok(bench.lmcache.finishedStores >= 20);
    for (const [name, baseline] of [
      ['vllm_bench', bench.baseline],
      ['long_doc_qa', longDocQa.baseline],
    ] as const) {
      for (const field of ['lookups', 'hitTokens', 'finishedStores', 'finishedRetrieves', 'chunksLoaded'] as const) {
        assert.equal(baseline[field], 0, `${name} baseline: ${field}`);
      }
    }
    const markdown = await readFile(path.join(dir, 'report.md'), 'utf8');
    assert.match(markdown, /LMCache's own counters/);
    assert.equal((await readdir(path.join(dir, 'container_logs'))).length, 3);
    assert.deepEqual(await leftoverContainers(`lmcache-mp-test-${buildId}`), []);
  });

  // Two faults in one run, to keep CI short: each fails its own check only.
  it('corrupt-on-hit fails the lm_eval comparison; 4 documents that fit the prefix cache fail long_doc_qa.lmcache_served', async () => {
    const run = await execute(`corrupt-${process.pid}`, {
      simDefect: 'corrupt-on-hit',
      stages: ['build', 'launch', 'health', 'lm_eval', 'long_doc_qa'],
      numDocuments: 4,
    });
    assert.notEqual(run.exitCode, 0);
    assert.match(run.output, /ChecksFailed|check\(s\) failed/);
    assert.deepEqual(
      failedChecks(run.report),
      ['lm_eval.samples_identical', 'long_doc_qa.lmcache_served'],
      JSON.stringify(run.report.checks),
    );
    const served = run.report.checks.find((c) => c.name === 'long_doc_qa.lmcache_served')!;
    assert.match(
      served.detail!,
      /^the workload never reached LMCache: 4 documents × 2000 tokens fit vLLM's prefix cache; raise NUM_DOCUMENTS or DOCUMENT_LENGTH \(vLLM's prefix cache holds 1125 blocks × 16 tokens = 18000 tokens\)/,
    );
    assert.deepEqual(await leftoverContainers(run.workflowId), []);
  });

  it('never-hit and slow-load fail the long doc QA latency checks; never-hit fails long_doc_qa.lmcache_served too', async () => {
    for (const defect of ['never-hit', 'slow-load']) {
      const run = await execute(`${defect}-${process.pid}`, {
        simDefect: defect,
        stages: ['build', 'launch', 'health', 'long_doc_qa'],
      });
      assert.notEqual(run.exitCode, 0, defect);
      assert.ok(
        failedChecks(run.report).includes('long_doc_qa.query_ttft_per_prompt'),
        `${defect}: ${JSON.stringify(run.report.checks)}`,
      );
      // never-hit's lookups still hit on the server: only the evidence of delivery tells it from a working cache.
      assert.equal(failedChecks(run.report).includes('long_doc_qa.lmcache_served'), defect === 'never-hit', defect);
      assert.equal(stage(run.report, 'long_doc_qa').status, 'failed');
      assert.deepEqual(await leftoverContainers(run.workflowId), []);
    }
  });

  it('slow-store fails the throughput check measured by the real vllm bench serve', async () => {
    const run = await execute(`slow-store-${process.pid}`, {
      simDefect: 'slow-store',
      stages: ['build', 'launch', 'health', 'vllm_bench'],
      benchmarkDriver: 'upstream',
    });
    assert.notEqual(run.exitCode, 0);
    assert.deepEqual(failedChecks(run.report), ['vllm_bench.throughput'], 'with the real vllm bench serve');
    assert.deepEqual(await leftoverContainers(run.workflowId), []);
  });

  it('crash-after:N fails the stage and names the container that died', async () => {
    const buildId = `crash-${process.pid}`;
    const run = await execute(buildId, {
      simDefect: 'crash-after:3',
      stages: ['build', 'launch', 'health', 'lm_eval'],
    });
    assert.notEqual(run.exitCode, 0);
    const lmEval = stage(run.report, 'lm_eval');
    assert.equal(lmEval.status, 'failed');
    assert.equal(lmEval.errorType, 'ContainerExited');
    assert.match(
      lmEval.error!,
      new RegExp(`container ${containerName('vllm', run.workflowId)} \\(vllm\\) is no longer running`),
    );
    assert.match(run.output, /StageFailed|stage lm_eval failed/);
    assert.deepEqual(await leftoverContainers(run.workflowId), []);
  });

  it('never-healthy fails at the health wait within MAX_WAIT_SECONDS, with the log tail', async () => {
    const run = await execute(`never-healthy-${process.pid}`, { simDefect: 'never-healthy', maxWaitSeconds: 5 });
    assert.notEqual(run.exitCode, 0);
    const health = stage(run.report, 'health');
    assert.equal(health.errorType, 'ServersNotHealthy');
    assert.match(health.error!, /not healthy after MAX_WAIT_SECONDS=5/);
    assert.match(health.error!, /last 50 log lines/);
    // It waits the whole MAX_WAIT_SECONDS, and gives up then (one probe round of slack), not at some later default.
    assert.ok(health.durationMs >= 5000 && health.durationMs < 15_000, `gave up after ${health.durationMs} ms`);
    assert.equal(stage(run.report, 'lm_eval').status, 'skipped');
    assert.deepEqual(await leftoverContainers(run.workflowId), []);
  });

  it('a cancelled run cleans up and ends as cancelled', async () => {
    const buildId = `cancel-${process.pid}`;
    const workflowId = `e2e-${buildId}`;
    const started = await startRun(server, TASK_QUEUE, workflowId, {
      profile: 'sim',
      buildId,
      simStartupSeconds: 600,
      maxWaitSeconds: 900,
    });
    assert.equal(started.exitCode, 0, started.all);
    // Wait until the servers are up and the run sits in the health wait.
    await threeContainers(workflowId);
    // What the Temporal UI shows as the run's current details: the stage it is in and those done. The
    // containers exist a moment before the workflow records that launch finished, so wait for the health stage.
    const metadata = await waitFor(
      'the run shows it is running health',
      async () => {
        const shown = await server.cli(['workflow', 'metadata', '--workflow-id', workflowId]);
        return /running health/.test(shown.all ?? '') && shown;
      },
      { withinMs: 30_000 },
    );
    assert.match(metadata.all ?? '', /\| launch \| passed \|/, metadata.all);
    const cancelled = await server.cli(['workflow', 'cancel', '--workflow-id', workflowId]);
    assert.equal(cancelled.exitCode, 0, cancelled.all);
    await server.cli(['workflow', 'result', '--workflow-id', workflowId]);
    const described = await server.cli(['workflow', 'describe', '--workflow-id', workflowId, '--output', 'json']);
    assert.match(described.all ?? '', /WORKFLOW_EXECUTION_STATUS_CANCELED/);
    const report = await readReport(resultsDirOf(buildId));
    assert.equal(stage(report, 'health').status, 'cancelled');
    assert.equal(stage(report, 'cleanup').status, 'passed');
    assert.deepEqual(await leftoverContainers(workflowId), []);
  });

  it('the janitor removes the containers of a terminated run and keeps those of a running one', async () => {
    const start = async (buildId: string) => {
      const workflowId = `e2e-${buildId}`;
      const started = await startRun(server, TASK_QUEUE, workflowId, {
        profile: 'sim',
        buildId,
        simStartupSeconds: 600,
        maxWaitSeconds: 900,
      });
      assert.equal(started.exitCode, 0, started.all);
      await threeContainers(workflowId);
      return workflowId;
    };
    const terminatedBuild = `terminated-${process.pid}`;
    const terminated = await start(terminatedBuild);
    // Both lease their ports: they run side by side.
    const running = await start(`running-${process.pid}`);
    // Terminating skips the workflow's own cleanup: that is what the janitor is for.
    assert.equal(
      (await server.cli(['workflow', 'terminate', '--workflow-id', terminated, '--reason', 'e2e'])).exitCode,
      0,
    );
    assert.equal((await leftoverContainers(terminated)).length, 3, 'a terminated run leaves its containers');

    const janitor = await execa('bash', ['scripts/janitor.sh'], {
      cwd: PROJECT_ROOT,
      env: { TEMPORAL_ADDRESS: server.address },
      reject: false,
      all: true,
    });
    assert.equal(janitor.exitCode, 0, janitor.all);
    assert.match(janitor.all, new RegExp(`${terminated}: TERMINATED; removed`));
    assert.match(janitor.all, new RegExp(`${running}: RUNNING; kept`));
    assert.deepEqual(await leftoverContainers(terminated), []);
    assert.equal((await leftoverContainers(running)).length, 3);
    assert.equal(
      (await readdir(path.join(resultsDirOf(terminatedBuild), 'container_logs'))).length,
      3,
      'log tails saved where the run keeps its results',
    );

    assert.equal((await server.cli(['workflow', 'cancel', '--workflow-id', running])).exitCode, 0);
    await server.cli(['workflow', 'result', '--workflow-id', running]);
    assert.deepEqual(await leftoverContainers(running), []);
  });

  it('resumes on a new worker when the worker dies mid-stage', async () => {
    const buildId = `killed-${process.pid}`;
    const workflowId = `e2e-${buildId}`;
    const started = await startRun(server, TASK_QUEUE, workflowId, {
      profile: 'sim',
      buildId,
      stages: ['build', 'launch', 'health', 'lm_eval'],
    });
    assert.equal(started.exitCode, 0, started.all);
    const firstRunLog = path.join(resultsDirOf(buildId), 'lm_eval', 'first_run.log');
    await waitFor('lm_eval started', () => exists(firstRunLog), { withinMs: 300_000 });
    await worker.kill();
    worker = WorkerProcess.start(TASK_QUEUE, { TEMPORAL_ADDRESS: server.address });
    await worker.waitUntilPolling();
    const result = await server.cli(['workflow', 'result', '--workflow-id', workflowId]);
    assert.equal(result.exitCode, 0, result.all);
    const report = await readReport(resultsDirOf(buildId));
    assert.equal(report.passed, true);
    const history = await server.cli(['workflow', 'show', '--workflow-id', workflowId, '--output', 'json']);
    const events = JSON.parse(history.all ?? '{}').events as Array<{
      eventType: string;
      activityTaskStartedEventAttributes?: { attempt: number };
    }>;
    const attempts = events
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(
      attempts.some((attempt) => attempt >= 2),
      `a stage was retried after the worker died: ${attempts}`,
    );
    assert.deepEqual(await leftoverContainers(workflowId), []);
  });
});
