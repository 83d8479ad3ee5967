/**
 * ON_FAILURE=hold end to end in the sim profile, through the `temporal` CLI: a held run retried to green
 * with its servers up (one build, one launch; a killed vLLM container relaunched alone), `finish`, a retried
 * vllm_bench that must not inherit a warm cache, a port held by a foreign process, and a reset of a completed
 * run after its containers were cleaned up. Light workloads: every run here is a few seconds of benchmark.
 *
 * The run retried to green is also the pipeline's leak test and its exit 3: scripts/run-mp-test.sh runs every stage
 * and a script stage with the worker node's HF_TOKEN, which must reach the vLLM containers and appear nowhere else
 * (the decoded history, the results, the worker's, CLI's and Temporal server's logs); green only through an
 * overridden threshold, the script exits 3. Every run leases its ports; a tool is killed by its own pid file.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { endLeftoverTool } from '../../src/activities/leftover-tools.js';
import { containerName, type Role } from '../../src/commands/containers.js';
import { ENV_VARIABLES } from '../../src/config/env.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { docker } from '../../src/docker/client.js';
import { containersOf } from '../../src/docker/containers.js';
import type { RunPlacement, RunPorts } from '../../src/placement/placement.js';
import type { RetriedStage, RunPhase } from '../../src/workflows/hold.js';
import { decodedHistoryText, textsHolding, textsOfFiles } from '../helpers/decoded-history.js';
import { PROJECT_ROOT } from '../helpers/temporal.js';
import { DevServer, WorkerProcess } from '../helpers/temporal-processes.js';
import { waitFor } from '../helpers/wait.js';
import { leftoverContainers, readReport, removeStrayContainers, resultsDirOf } from './harness.js';

const TASK_QUEUE = `e2e-hold-${process.pid}`;
/** The worker node's token for gated models: unique to this test process, so any copy of it is a leak. */
const HF_TOKEN = `hf_e2e_hold_${process.pid}_${Date.now()}`;
/** Small workloads: the checks still hold at these sizes (see src/sim/README.md). */
const LIGHT: ConfigInput = {
  profile: 'sim',
  numPrompts: 12,
  numDocuments: 6,
  limit: 10,
  // 2 of the 6 documents fit this sim GPU cache: long doc QA still needs LMCache, so its evidence holds.
  simGpuCacheTokens: 4000,
  onFailure: 'hold',
};

/** A run's input as the environment variables scripts/run-mp-test.sh reads (lists comma-separated). */
function envOf(input: ConfigInput): Record<string, string> {
  const set = ENV_VARIABLES.filter(({ field }) => input[field as keyof ConfigInput] !== undefined);
  return Object.fromEntries(set.map(({ env, field }) => [env, String(input[field as keyof ConfigInput])]));
}

type HistoryEvent = {
  eventId: string;
  eventType: string;
  activityTaskScheduledEventAttributes?: { activityType: { name: string } };
  activityTaskCompletedEventAttributes?: { scheduledEventId: string; result: { payloads: { data: string }[] } };
};

/** The results of every completed `activity` in a history (payloads are base64 JSON). */
function activityResults<T>(events: HistoryEvent[], activity: string): T[] {
  const ids = new Set(scheduled(events, activity).map((event) => event.eventId));
  return events
    .map((event) => event.activityTaskCompletedEventAttributes)
    .filter((completed) => completed !== undefined && ids.has(completed.scheduledEventId))
    .map((completed) => JSON.parse(Buffer.from(completed!.result.payloads[0].data, 'base64').toString()) as T);
}

const scheduled = (events: HistoryEvent[], activity: string) =>
  events.filter((event) => event.activityTaskScheduledEventAttributes?.activityType.name === activity);

/** The ports a run leased: its lease activity's result. */
const leasedPorts = (events: HistoryEvent[]): RunPorts | undefined =>
  activityResults<{ placement: RunPlacement }>(events, 'leaseResources')[0]?.placement.ports;

/** The containers each servers check relaunched, in order, leaving out the checks that found all up. */
const relaunches = (events: HistoryEvent[]) =>
  activityResults<{ relaunched: string[] }>(events, 'ensureServers')
    .map((result) => result.relaunched)
    .filter((names) => names.length > 0);

describe('holding a failed sim run end to end', { timeout: 1_200_000 }, () => {
  let server: DevServer;
  let worker: WorkerProcess;

  before(async () => {
    // The server logs at info level: its log is searched for the token too.
    server = await DevServer.start({ logLevel: 'info' });
    worker = WorkerProcess.start(TASK_QUEUE, { TEMPORAL_ADDRESS: server.address, HF_TOKEN });
    await worker.waitUntilPolling();
  });
  after(async () => {
    await worker?.stop();
    await server?.stop();
    await removeStrayContainers();
  });

  /** Everything the temporal CLI printed in these tests, searched for the token. */
  let cliTranscript = '';
  async function cli(args: string[]) {
    const result = await server.cli(args);
    cliTranscript += `${result.all ?? ''}\n`;
    return { exitCode: result.exitCode, output: result.all ?? '' };
  }

  async function start(buildId: string, input: ConfigInput): Promise<string> {
    const workflowId = `e2e-${buildId}`;
    const input_ = JSON.stringify({ ...input, buildId });
    const args = ['--type', 'lmcacheMpTest', '--task-queue', TASK_QUEUE, '--workflow-id', workflowId];
    const started = await cli(['workflow', 'start', ...args, '--input', input_]);
    assert.equal(started.exitCode, 0, started.output);
    return workflowId;
  }

  async function state(workflowId: string): Promise<RunPhase | undefined> {
    const result = await cli(['workflow', 'query', '--workflow-id', workflowId, '--name', 'state', '-o', 'json']);
    if (result.exitCode !== 0) return undefined;
    return (JSON.parse(result.output) as { queryResult: RunPhase[] }).queryResult[0];
  }

  async function heldOn(workflowId: string): Promise<Extract<RunPhase, { phase: 'held' }>> {
    const held = async () => {
      const phase = await state(workflowId);
      if (phase?.phase === 'held') return phase;
      const described = await cli(['workflow', 'describe', '--workflow-id', workflowId, '-o', 'json']);
      // Not started yet (scripts/run-mp-test.sh builds first) is no failure; ended without being held is.
      if (described.exitCode === 0)
        assert.match(
          described.output,
          /RUNNING/,
          `the run ended without being held: ${described.output.slice(0, 2000)}`,
        );
      return undefined;
    };
    return waitFor(`${workflowId} held`, held, { withinMs: 300_000, everyMs: 500 });
  }

  async function update(workflowId: string, name: string, input?: unknown) {
    const args = ['workflow', 'update', 'execute', '--workflow-id', workflowId, '--name', name, '-o', 'json'];
    const result = await cli(input === undefined ? args : [...args, '--input', JSON.stringify(input)]);
    assert.equal(result.exitCode, 0, result.output);
    return (JSON.parse(result.output) as { result: unknown }).result;
  }

  /** Waits for the run's end; its exit code is 0 only for a completed (green) run. */
  async function result(workflowId: string) {
    return cli(['workflow', 'result', '--workflow-id', workflowId]);
  }

  /** The run's history as `temporal workflow show -o json` prints it. */
  async function history(workflowId: string): Promise<{ events: HistoryEvent[] }> {
    const shown = await cli(['workflow', 'show', '--workflow-id', workflowId, '-o', 'json']);
    return JSON.parse(shown.output) as { events: HistoryEvent[] };
  }

  async function runningRoles(workflowId: string): Promise<Map<Role | undefined, string>> {
    const running = (await containersOf(workflowId)).filter((c) => c.state === 'running');
    return new Map(running.map((c) => [c.role, c.id]));
  }

  it('a run held on long_doc_qa is retried with an overridden threshold to green, relaunching only its killed vLLM; run-mp-test.sh exits 3 and HF_TOKEN leaks nowhere', async () => {
    const buildId = `hold-retry-${process.pid}`;
    const workflowId = `lmcache-mp-test-${buildId}`;
    const scripts = ['test/fixtures/scripts/run-env-check.sh'];
    // As a CI job runs it: the README's run command against this test's server and worker, the token in both.
    // Held on long_doc_qa alone: a throughput dip from other work on the machine must not hold it on vllm_bench.
    const input: ConfigInput = { ...LIGHT, buildId, maxLmcacheTtft: 0.001, maxThroughputSlowdownPercent: 50, scripts };
    const run = execa('bash', ['scripts/run-mp-test.sh'], {
      cwd: PROJECT_ROOT,
      env: { ...envOf(input), TEMPORAL_ADDRESS: server.address, WORKER_RUNNING: '1', TASK_QUEUE, HF_TOKEN },
      reject: false,
      all: true,
    });
    const held = await heldOn(workflowId);
    assert.equal(held.stage, 'long_doc_qa');
    assert.match(held.reason, /long_doc_qa\.query_ttft_per_prompt/);
    const before = await runningRoles(workflowId);
    assert.equal(before.size, 3, 'the servers stay up while held');
    for (const role of ['vllm', 'baseline'] as const) {
      const { Config } = await docker().getContainer(before.get(role)!).inspect();
      assert.ok(Config.Env.includes(`HF_TOKEN=${HF_TOKEN}`), `the ${role} container got the worker node's token`);
    }
    const described = await cli([
      'workflow',
      'list',
      '--query',
      `WorkflowId="${workflowId}" AND LmcacheMpState="held"`,
    ]);
    assert.match(described.output, new RegExp(workflowId));

    await docker().getContainer(before.get('vllm')!).kill();
    const outcome = (await update(workflowId, 'retryStage', {
      stage: 'long_doc_qa',
      config: { maxLmcacheTtft: 0.2 },
    })) as RetriedStage;
    assert.equal(outcome.status, 'passed', JSON.stringify(outcome));
    assert.deepEqual(outcome.overrides, { maxLmcacheTtft: { original: 0.001, overridden: 0.2 } });

    const ran = await run;
    assert.equal(ran.exitCode, 3, ran.all);
    assert.match(ran.all, /\nOverridden by retryStage\n {2}- long_doc_qa: maxLmcacheTtft 0\.001 → 0\.2\n/);
    assert.match(ran.all, /PASSED WITH OVERRIDES/);
    const ended = await result(workflowId);
    assert.equal(ended.exitCode, 0, `temporal itself exits 0 for the run: ${ended.output}`);
    const report = await readReport(resultsDirOf(buildId));
    assert.equal(report.verdict, 'passed-with-overrides');
    assert.deepEqual(
      report.stages.filter((stage) => !stage.superseded).map((stage) => [stage.name, stage.status]),
      ['build', 'select_gpus', 'launch', 'health', 'lm_eval', 'vllm_bench', 'long_doc_qa', 'env_check', 'cleanup'].map(
        (name) => [name, 'passed'],
      ),
      'every stage and a script stage ran',
    );
    const shown = await history(workflowId);
    const { events } = shown;
    // Kept beside the report: test/fixtures/histories/sim-placed-held.json is one such history.
    await writeFile(`${resultsDirOf(buildId)}/history.json`, JSON.stringify(shown, null, 2));
    assert.equal(scheduled(events, 'buildImage').length, 1);
    assert.equal(scheduled(events, 'launchContainers').length, 1);
    assert.deepEqual(relaunches(events), [[containerName('vllm', workflowId)]], 'only the killed container');
    assert.deepEqual(await leftoverContainers(workflowId), []);
    const attempts = report.stages.filter((stage) => stage.name === 'long_doc_qa');
    assert.deepEqual(
      attempts.map((stage) => [stage.status, stage.superseded ?? false]),
      [
        ['failed', true],
        ['passed', false],
      ],
    );

    // The token reached the containers above; nothing the run wrote, logged or recorded holds it.
    const texts: Record<string, string> = {
      'history (decoded)': decodedHistoryText(shown),
      "the worker's log": worker.log(),
      "the Temporal server's log": server.log(),
      'scripts/run-mp-test.sh': ran.all,
      'the temporal CLI': cliTranscript,
      [`.run/start-${buildId}.log`]: await readFile(path.join(PROJECT_ROOT, '.run', `start-${buildId}.log`), 'utf8'),
    };
    Object.assign(texts, await textsOfFiles(resultsDirOf(buildId)));
    assert.ok(Object.keys(texts).length >= 10, `the results directory's files are searched: ${Object.keys(texts)}`);
    assert.match(texts['history (decoded)']!, /"decodedPayload": \{\n\s*"stage": "long_doc_qa"/, 'payloads decoded');
    assert.deepEqual(textsHolding(HF_TOKEN, texts), [], 'HF_TOKEN appears nowhere but in the containers');
  });

  it('finish ends a held run: cleaned up, failed, with its report', async () => {
    const buildId = `hold-finish-${process.pid}`;
    const stages: ConfigInput['stages'] = ['build', 'launch', 'health', 'long_doc_qa'];
    const workflowId = await start(buildId, { ...LIGHT, stages, maxLmcacheTtft: 0.001 });
    await heldOn(workflowId);
    assert.equal(await update(workflowId, 'finish'), 'failed');
    const ended = await result(workflowId);
    assert.notEqual(ended.exitCode, 0);
    const report = await readReport(resultsDirOf(buildId));
    assert.equal(report.verdict, 'failed');
    assert.deepEqual(await leftoverContainers(workflowId), []);
  });

  it('a retried vllm_bench does not inherit a warm cache: slow-store still fails, automatic retry and retryStage', async () => {
    const buildId = `hold-bench-${process.pid}`;
    const stages: ConfigInput['stages'] = ['build', 'launch', 'health', 'vllm_bench'];
    const config = { ...LIGHT, stages, simDefect: 'slow-store' };
    const workflowId = await start(buildId, config);
    // The LMCache side's tool is killed once half of its prompts are served: the activity's next attempt follows.
    const ports = await waitFor(
      'the run leased its ports',
      async () => leasedPorts((await history(workflowId)).events),
      {
        withinMs: 300_000,
        everyMs: 1000,
      },
    );
    await killBenchToolMidRun(ports.vllm, resultsDirOf(buildId), config.numPrompts!);
    const held = await heldOn(workflowId);
    assert.equal(held.stage, 'vllm_bench');
    assert.match(held.reason, /vllm_bench\.throughput/);
    const outcome = (await update(workflowId, 'retryStage', { stage: 'vllm_bench' })) as RetriedStage;
    assert.equal(outcome.status, 'failed');
    assert.deepEqual(
      outcome.checks.filter((check) => !check.passed).map((check) => check.name),
      ['vllm_bench.throughput'],
    );
    await update(workflowId, 'finish');
    await result(workflowId);
    const report = await readReport(resultsDirOf(buildId));
    const attempts = report.stages.filter((stage) => stage.name === 'vllm_bench');
    assert.deepEqual(
      attempts.map((stage) => [stage.status, stage.attempts, stage.retry]),
      [
        ['failed', 2, undefined],
        ['failed', 1, 1],
      ],
    );
    const seeds = attempts.map((stage) => stage.seed);
    assert.equal(new Set(seeds).size, 2, `each attempt has its own seed: ${seeds}`);
    assert.deepEqual(await leftoverContainers(workflowId), []);
  });

  it('launch fails at once naming a port a foreign process holds, and leaves nothing running', async () => {
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const { port } = squatter.address() as AddressInfo;
    try {
      const buildId = `hold-port-${process.pid}`;
      // The run pins its baseline port to the one this process holds.
      const workflowId = await start(buildId, { ...LIGHT, stages: ['launch', 'health'], vllmBaselinePort: port });
      const ended = await result(workflowId);
      assert.notEqual(ended.exitCode, 0);
      const report = await readReport(resultsDirOf(buildId));
      const launch = report.stages.find((stage) => stage.name === 'launch')!;
      assert.equal(launch.errorType, 'PortInUse');
      assert.equal(launch.attempts, 1, 'not retried');
      assert.match(
        launch.error!,
        new RegExp(`port ${port} \\(baseline\\) is already in use by process ${process.pid}`),
      );
      assert.deepEqual(await leftoverContainers(workflowId), []);
    } finally {
      squatter.close();
    }
  });

  it('a completed run reset to before long_doc_qa relaunches its servers and completes', async () => {
    const buildId = `hold-reset-${process.pid}`;
    const stages: ConfigInput['stages'] = ['build', 'launch', 'health', 'long_doc_qa'];
    const workflowId = await start(buildId, { ...LIGHT, stages, onFailure: 'cleanup' });
    assert.equal((await result(workflowId)).exitCode, 0);
    assert.deepEqual(await leftoverContainers(workflowId), []);
    const { events } = await history(workflowId);
    // The workflow task that scheduled the servers check before long_doc_qa: the reset replays up to it.
    const check = scheduled(events, 'ensureServers')[0];
    const task = events
      .filter((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED')
      .filter((event) => Number(event.eventId) < Number(check.eventId))
      .at(-1)!;
    const reset = await cli([
      'workflow',
      'reset',
      '--workflow-id',
      workflowId,
      '--event-id',
      task.eventId,
      '--reason',
      'e2e',
    ]);
    assert.equal(reset.exitCode, 0, reset.output);
    assert.equal((await result(workflowId)).exitCode, 0);
    const { events: after } = await history(workflowId);
    assert.equal(scheduled(after, 'launchContainers').length, 1, 'the launch stage itself did not run again');
    const names = (['lmcache', 'vllm', 'baseline'] as const).map((role) => containerName(role, workflowId));
    assert.deepEqual(relaunches(after), [names], 'the reset run relaunched all three, once');
    assert.deepEqual(await leftoverContainers(workflowId), []);
  });
});

/**
 * Kills the LMCache side's `vllm bench serve` once the run's sim vLLM (on `vllmPort`) has served `prompts / 2`
 * requests: the process its pid file next to its log records, as a lost attempt's leftover tool is ended.
 */
async function killBenchToolMidRun(vllmPort: number, resultsDir: string, prompts: number): Promise<void> {
  const pidFile = path.join(resultsDir, 'vllm_bench', 'lmcache.log.pid');
  const served = () =>
    fetch(`http://127.0.0.1:${vllmPort}/sim/stats`)
      .then((response) => response.json() as Promise<{ requests: { served: number } }>)
      .then((stats) => stats.requests.served)
      .catch(() => 0);
  await waitFor(
    'the LMCache side of vllm_bench got half way and was killed',
    async () => (await served()) >= prompts / 2 && (await endLeftoverTool(pidFile)) !== undefined,
    { withinMs: 300_000, everyMs: 100 },
  );
}
