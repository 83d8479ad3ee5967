/**
 * The fault matrix (scripts/fault-matrix.sh prints it as rows): the faults a fleet sees, injected into sim runs on
 * worker nodes of their own (each its NODE_NAME, port range and lease directory):
 * - cancel during each stage: cleaned up within 30 s, the run Canceled;
 * - the LMCache container killed during a benchmark: the stage fails naming it;
 * - terminate during a benchmark: the janitor leaves no container and no lease within 60 s;
 * - the worker SIGKILLed during each stage of one run, restarted each time on the same node: the run completes green;
 * - a node's worker gone for good before launch: the run completes on another node;
 * - the Temporal server SIGKILLed and restarted on its database during a benchmark: the run completes green.
 * Every case asserts that nothing is left behind. The cases of one server run side by side: each waits mostly for
 * heartbeat timeouts, not for the CPU.
 */
import assert from 'node:assert/strict';
import { Connection, WorkflowClient, WorkflowFailedError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/activities/build.js';
import { runJanitor } from '../../src/client/janitor.js';
import { containerName } from '../../src/commands/containers.js';
import { resolveConfig, type ConfigInput, type StageName } from '../../src/config/schema.js';
import { docker } from '../../src/docker/client.js';
import { watchContainerDeaths } from '../../src/docker/events.js';
import { leaseHolders } from '../../src/placement/leases.js';
import type { RunReport } from '../../src/report/types.js';
import { nodePortRange } from '../helpers/ports.js';
import { DevServer, WorkerProcess } from '../helpers/temporal-processes.js';
import { waitFor } from '../helpers/wait.js';
import { leftoverContainers, readReport, removeStrayContainers, resultsDirOf } from './harness.js';

/**
 * The whole pipeline on a small workload (the checks still hold at these sizes, see src/sim/README.md). Its
 * documents overflow a small sim GPU cache (2 of 6 fit), so long doc QA still needs LMCache and its evidence holds.
 */
const LIGHT: ConfigInput = { profile: 'sim', numPrompts: 12, numDocuments: 6, limit: 10, simGpuCacheTokens: 4000 };

/** A run that reaches `stage` soon: the servers' stages, then that benchmark alone (cleanup always runs). */
function through(stage: StageName | 'cleanup'): ConfigInput {
  const benchmarks: string[] = ['lm_eval', 'vllm_bench', 'long_doc_qa'];
  return {
    ...LIGHT,
    stages: ['build', 'launch', 'health', ...(benchmarks.includes(stage) ? [stage as StageName] : [])],
  };
}
/** The stages in the order a run takes them, with the activity that does each. */
const STAGE_ACTIVITIES: Array<[StageName | 'cleanup', string]> = [
  ['build', 'buildImage'],
  ['launch', 'launchContainers'],
  ['health', 'waitForHealth'],
  ['lm_eval', 'runLmEval'],
  ['vllm_bench', 'runVllmBench'],
  ['long_doc_qa', 'runLongDocQa'],
  ['cleanup', 'cleanupContainers'],
];
/** temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED: a worker is running it. */
const ACTIVITY_STARTED = 2;

const slowBuildImages = new Set<string>();

/** The build stage takes seconds (test/fixtures/faults/slow-build.Dockerfile), so a fault can land inside it. */
function slowBuild(faultCase: string): ConfigInput {
  slowBuildImages.add(`lmcache-mp-sim-faults:${faultCase}`);
  return {
    dockerfile: 'test/fixtures/faults/slow-build.Dockerfile',
    image: `lmcache-mp-sim-faults:${faultCase}`,
    buildArgs: { FAULT_CASE: faultCase },
  };
}

let leaseRoot: string;

/** A node: a worker process with its own NODE_NAME and port range, restartable as the same node. */
class Node {
  worker!: WorkerProcess;
  /** Chosen at the first start and kept: a restarted node finds its runs' leases in that range. */
  private portRange?: string;
  constructor(
    readonly name: string,
    private readonly taskQueue: string,
    private readonly server: () => DevServer,
  ) {}

  async start(): Promise<void> {
    this.portRange ??= await nodePortRange();
    this.worker = WorkerProcess.start(this.taskQueue, {
      TEMPORAL_ADDRESS: this.server().address,
      NODE_NAME: this.name,
      LEASE_DIR: leaseRoot,
      PORT_RANGE: this.portRange,
      // Enough virtual GPUs for every run of the matrix at once.
      SIM_GPUS: '24',
    });
    await this.worker.waitUntilPolling();
  }

  async killAndRestart(): Promise<void> {
    await this.worker.kill();
    await this.start();
  }
}

/** The cases of one Temporal server: starting runs, watching their stages, and what they leave behind. */
class Matrix {
  client!: WorkflowClient;
  private connection?: Connection;

  async connect(server: DevServer): Promise<void> {
    this.connection = await Connection.connect({ address: server.address });
    this.client = new WorkflowClient({ connection: this.connection });
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }

  async start(taskQueue: string, name: string, input: ConfigInput) {
    const buildId = `${name}-${process.pid}`;
    const workflowId = `faults-${buildId}`;
    const handle = await this.client.start('lmcacheMpTest', {
      taskQueue,
      workflowId,
      args: [{ ...input, buildId }],
    });
    return { buildId, workflowId, handle };
  }

  /** Resolves once a worker runs `activity` for the run (not merely scheduled); fails if the run ends first. */
  async untilRunning(workflowId: string, activity: string): Promise<void> {
    const running = async () => {
      const description = await this.client.getHandle(workflowId).describe();
      const pending = description.raw.pendingActivities ?? [];
      if (pending.some((p) => p.activityType?.name === activity && p.state === ACTIVITY_STARTED)) return true;
      assert.equal(description.status.name, 'RUNNING', `the run ended before ${activity} ran`);
      return false;
    };
    await waitFor(`${workflowId} running ${activity}`, running, { withinMs: 600_000, everyMs: 100 });
  }

  async nothingLeft(workflowId: string): Promise<void> {
    assert.deepEqual(await leftoverContainers(workflowId), [], 'no container left');
    for (const node of await readdir(leaseRoot)) {
      assert.deepEqual(
        (await leaseHolders(path.join(leaseRoot, node))).filter((id) => id === workflowId),
        [],
        `no lease left on ${node}`,
      );
    }
  }
}

before(async () => {
  leaseRoot = await mkdtemp(path.join(tmpdir(), 'faults-leases-'));
  // The slow build's base: the sim profile's own image, built by the build stage's code.
  const simConfig = resolveConfig({ profile: 'sim' }, { workflowId: 'faults-sim-image' });
  await new MockActivityEnvironment().run(buildImage, simConfig);
});
after(async () => {
  await removeStrayContainers();
  await rm(leaseRoot, { recursive: true, force: true });
  for (const image of slowBuildImages) {
    await docker()
      .getImage(image)
      .remove()
      .catch(() => {});
  }
});

describe('faults on a node', { timeout: 900_000, concurrency: true }, () => {
  let server: DevServer;
  const matrix = new Matrix();
  const queue = (name: string) => `faults-${name}-${process.pid}`;
  const node = (name: string) => new Node(`faults-${name}-${process.pid}`, queue(name), () => server);
  const shared = node('shared');
  const killed = node('killed');
  const goneA = new Node(`faults-gone-a-${process.pid}`, queue('gone'), () => server);
  const goneB = new Node(`faults-gone-b-${process.pid}`, queue('gone'), () => server);

  before(async () => {
    server = await DevServer.start();
    await Promise.all([shared.start(), killed.start(), goneA.start()]);
    await matrix.connect(server);
  });
  after(async () => {
    for (const n of [shared, killed, goneA, goneB]) await n.worker?.stop();
    await matrix.close();
    await server?.stop();
  });

  for (const [stage, activity] of STAGE_ACTIVITIES) {
    it(`cancel during ${stage}: cleaned up within 30 s, the run Canceled`, async () => {
      const input = stage === 'build' ? { ...through(stage), ...slowBuild(stage) } : through(stage);
      const { workflowId, handle } = await matrix.start(queue('shared'), `cancel-${stage}`, input);
      await matrix.untilRunning(workflowId, activity);
      const cancelledAt = Date.now();
      await handle.cancel();
      await assert.rejects(handle.result(), WorkflowFailedError);
      const took = Date.now() - cancelledAt;
      assert.ok(took < 30_000, `ended ${took} ms after the cancel`);
      assert.equal((await handle.describe()).status.name, 'CANCELLED');
      await matrix.nothingLeft(workflowId);
    });
  }

  it('the LMCache container killed during lm_eval: the stage fails naming it', async (t) => {
    const { buildId, workflowId, handle } = await matrix.start(queue('shared'), 'lmcache-killed', through('lm_eval'));
    await matrix.untilRunning(workflowId, 'runLmEval');
    const lmcache = containerName('lmcache', workflowId);
    let diedAt = 0;
    t.after(await watchContainerDeaths(workflowId, () => (diedAt ||= Date.now())));
    await docker().getContainer(lmcache).kill();
    await assert.rejects(handle.result(), WorkflowFailedError);
    const lmEval = (await readReport(resultsDirOf(buildId))).stages.find((s) => s.name === 'lm_eval')!;
    assert.equal(lmEval.errorType, 'ContainerExited');
    assert.match(lmEval.error!, new RegExp(`container ${lmcache} \\(lmcache\\) is no longer running`));
    // When the stage failed, by the server's clock, against when the engine reported the death.
    const failed = (await handle.fetchHistory()).events?.find((e) => e.activityTaskFailedEventAttributes);
    const failedAt = Number(failed!.eventTime!.seconds) * 1000 + Math.round((failed!.eventTime!.nanos ?? 0) / 1e6);
    t.diagnostic(`lm_eval failed ${failedAt - diedAt} ms after the LMCache container died`);
    await matrix.nothingLeft(workflowId);
  });

  it('terminate during vllm_bench: the janitor leaves no container and no lease within 60 s', async (t) => {
    const { workflowId, handle } = await matrix.start(queue('shared'), 'terminated', through('vllm_bench'));
    await matrix.untilRunning(workflowId, 'runVllmBench');
    await handle.terminate('fault matrix');
    const terminatedAt = Date.now();
    assert.ok((await leftoverContainers(workflowId)).length > 0, 'a terminated run cannot clean up after itself');
    const janitor = await runJanitor(
      { ...process.env, TEMPORAL_ADDRESS: server.address, LEASE_DIR: leaseRoot },
      { dryRun: false, log: () => {} },
    );
    assert.ok(janitor.some((verdict) => verdict.workflowId === workflowId && verdict.removed));
    await matrix.nothingLeft(workflowId);
    const took = Date.now() - terminatedAt;
    t.diagnostic(`the janitor left nothing ${took} ms after the terminate`);
    assert.ok(took < 60_000, `took ${took} ms`);
  });

  it('the worker SIGKILLed during each stage, restarted on the same node each time: the run completes green', async (t) => {
    const { buildId, workflowId, handle } = await matrix.start(queue('killed'), 'kill-sequence', {
      ...LIGHT,
      ...slowBuild('kill-sequence'),
    });
    for (const [stage, activity] of STAGE_ACTIVITIES) {
      await matrix.untilRunning(workflowId, activity);
      await killed.killAndRestart();
      t.diagnostic(`worker killed during ${stage} and restarted`);
    }
    const report: RunReport = await handle.result();
    assert.equal(report.passed, true, JSON.stringify(report.stages));
    assert.equal(report.placement?.node, killed.name);
    const stages = (await readReport(resultsDirOf(buildId))).stages;
    for (const [stage] of STAGE_ACTIVITIES) {
      const attempts = stages.find((s) => s.name === stage)?.attempts ?? 1;
      assert.ok(attempts >= 2, `${stage} ran again on the restarted worker (attempts: ${attempts})`);
    }
    await matrix.nothingLeft(workflowId);
  });

  it("a node's worker gone for good before launch: the run completes on another node", async () => {
    const { workflowId, handle } = await matrix.start(queue('gone'), 'node-gone', {
      ...through('long_doc_qa'),
      ...slowBuild('node-gone'),
    });
    await matrix.untilRunning(workflowId, 'buildImage');
    await goneA.worker.kill();
    await goneB.start();
    const report: RunReport = await handle.result();
    assert.equal(report.passed, true, JSON.stringify(report.stages));
    assert.equal(report.placement?.node, goneB.name);
    await matrix.nothingLeft(workflowId);
  });
});

describe('the Temporal server lost', { timeout: 600_000 }, () => {
  let server: DevServer;
  let dbDir: string;
  const matrix = new Matrix();
  const restarted = new Node(`faults-restart-${process.pid}`, `faults-restart-${process.pid}`, () => server);

  before(async () => {
    dbDir = await mkdtemp(path.join(tmpdir(), 'faults-temporal-'));
    server = await DevServer.start({ dbFile: path.join(dbDir, 'temporal.db') });
    await restarted.start();
    await matrix.connect(server);
  });
  after(async () => {
    await restarted.worker?.stop();
    await matrix.close();
    await server?.stop();
    await rm(dbDir, { recursive: true, force: true });
  });

  it('killed and restarted on its database during vllm_bench: the run completes green', async () => {
    const { workflowId, handle } = await matrix.start(
      `faults-restart-${process.pid}`,
      'server-restart',
      through('vllm_bench'),
    );
    await matrix.untilRunning(workflowId, 'runVllmBench');
    await server.killAndRestart();
    const report: RunReport = await handle.result();
    assert.equal(report.passed, true, JSON.stringify(report.stages));
    await matrix.nothingLeft(workflowId);
  });
});
