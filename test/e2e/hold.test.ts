/**
 * ON_FAILURE=hold end to end in the sim profile, through the `temporal` CLI: a held run retried to green
 * with its servers up (one build, one launch; a killed vLLM container relaunched alone), `finish`, a retried
 * vllm_bench that must not inherit a warm cache, a port held by a foreign process, and a reset of a completed
 * run after its containers were cleaned up. Light workloads: every run here is a few seconds of benchmark.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { containerName, type Role } from '../../src/commands/containers.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { docker } from '../../src/docker/client.js';
import { containersOf } from '../../src/docker/containers.js';
import type { RetriedStage, RunPhase } from '../../src/workflows/hold.js';
import { DevServer, WorkerProcess } from '../helpers/temporal-processes.js';
import { leftoverContainers, readReport, removeStrayContainers, resultsDirOf } from './harness.js';

const TASK_QUEUE = `e2e-hold-${process.pid}`;
/** Small workloads: the checks still hold at these sizes (see src/sim/README.md). */
// The reference ports, pinned (a run otherwise leases its ports): the tests watch and squat them.
const PINNED_PORTS: ConfigInput = { vllmPort: 8000, vllmBaselinePort: 9000, lmcachePort: 6555 };
const LIGHT: ConfigInput = {
  profile: 'sim',
  numPrompts: 12,
  numDocuments: 6,
  limit: 10,
  onFailure: 'hold',
  ...PINNED_PORTS,
};

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

/** The containers each servers check relaunched, in order, leaving out the checks that found all up. */
const relaunches = (events: HistoryEvent[]) =>
  activityResults<{ relaunched: string[] }>(events, 'ensureServers')
    .map((result) => result.relaunched)
    .filter((names) => names.length > 0);

describe('holding a failed sim run end to end', { timeout: 600_000 }, () => {
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

  async function cli(args: string[]) {
    const result = await server.cli(args);
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
    for (let i = 0; i < 600; i++) {
      const phase = await state(workflowId);
      if (phase?.phase === 'held') return phase;
      const described = await cli(['workflow', 'describe', '--workflow-id', workflowId, '-o', 'json']);
      assert.match(described.output, /RUNNING/, `the run ended without being held: ${described.output.slice(0, 2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`${workflowId} was not held within 5 minutes`);
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

  async function history(workflowId: string): Promise<HistoryEvent[]> {
    const shown = await cli(['workflow', 'show', '--workflow-id', workflowId, '-o', 'json']);
    return (JSON.parse(shown.output) as { events: HistoryEvent[] }).events;
  }

  async function runningRoles(workflowId: string): Promise<Map<Role | undefined, string>> {
    const running = (await containersOf(workflowId)).filter((c) => c.state === 'running');
    return new Map(running.map((c) => [c.role, c.id]));
  }

  it('a run held on long_doc_qa is retried with an overridden threshold to green, relaunching only its killed vLLM', async () => {
    const buildId = `hold-retry-${process.pid}`;
    const workflowId = await start(buildId, { ...LIGHT, maxLmcacheTtft: 0.001 });
    const held = await heldOn(workflowId);
    assert.equal(held.stage, 'long_doc_qa');
    assert.match(held.reason, /long_doc_qa\.query_ttft_per_prompt/);
    const before = await runningRoles(workflowId);
    assert.equal(before.size, 3, 'the servers stay up while held');
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

    const ended = await result(workflowId);
    assert.equal(ended.exitCode, 0, ended.output);
    const report = await readReport(resultsDirOf(buildId));
    assert.equal(report.verdict, 'passed-with-overrides');
    const events = await history(workflowId);
    // Kept beside the report: test/fixtures/histories/sim-held-retried.json is one such history.
    await writeFile(`${resultsDirOf(buildId)}/history.json`, JSON.stringify({ events }, null, 2));
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
    await killBenchToolMidRun(config.numPrompts!);
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
    await new Promise<void>((resolve) => squatter.listen(9000, '127.0.0.1', resolve));
    try {
      const buildId = `hold-port-${process.pid}`;
      const workflowId = await start(buildId, { ...LIGHT, stages: ['launch', 'health'] });
      const ended = await result(workflowId);
      assert.notEqual(ended.exitCode, 0);
      const report = await readReport(resultsDirOf(buildId));
      const launch = report.stages.find((stage) => stage.name === 'launch')!;
      assert.equal(launch.errorType, 'PortInUse');
      assert.equal(launch.attempts, 1, 'not retried');
      assert.match(launch.error!, new RegExp(`port 9000 \\(baseline\\) is already in use by process ${process.pid}`));
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
    const events = await history(workflowId);
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
    const after = await history(workflowId);
    assert.equal(scheduled(after, 'launchContainers').length, 1, 'the launch stage itself did not run again');
    const names = (['lmcache', 'vllm', 'baseline'] as const).map((role) => containerName(role, workflowId));
    assert.deepEqual(relaunches(after), [names], 'the reset run relaunched all three, once');
    assert.deepEqual(await leftoverContainers(workflowId), []);
  });
});

/** Kills the LMCache side's `vllm bench serve` once the sim vLLM on port 8000 has served `prompts / 2` requests. */
async function killBenchToolMidRun(prompts: number): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const served = await fetch('http://127.0.0.1:8000/sim/stats')
      .then((response) => response.json() as Promise<{ requests: { served: number } }>)
      .then((stats) => stats.requests.served)
      .catch(() => 0);
    if (served >= prompts / 2) {
      const pid = await benchToolPid();
      if (pid !== undefined) {
        process.kill(pid, 'SIGKILL');
        return;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the LMCache side of vllm_bench never got half way');
}

async function benchToolPid(): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = argv.split('\0');
    const port = args.indexOf('--port');
    if (args.includes('random') && port !== -1 && args[port + 1] === '8000') return Number(entry);
  }
  return undefined;
}
