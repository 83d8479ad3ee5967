/**
 * Faults a fleet sees, injected into sim runs on a node with its own NODE_NAME and lease directory: the LMCache
 * container killed while a benchmark runs, a cancel during a benchmark, and the worker SIGKILLed during a
 * benchmark and restarted on the same node. Each case asserts that no container and no lease is left behind.
 */
import assert from 'node:assert/strict';
import { Connection, WorkflowClient, WorkflowFailedError } from '@temporalio/client';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { containerName } from '../../src/commands/containers.js';
import { docker } from '../../src/docker/client.js';
import { containersOf } from '../../src/docker/containers.js';
import { watchContainerDeaths } from '../../src/docker/events.js';
import { leaseHolders } from '../../src/placement/leases.js';
import { DevServer, WorkerProcess } from '../helpers/temporal-processes.js';
import { readReport, removeStrayContainers, resultsDirOf } from './harness.js';

const TASK_QUEUE = `faults-${process.pid}`;
const NODE = `faults-node-${process.pid}`;
const LIGHT = { profile: 'sim', stages: ['build', 'launch', 'health', 'lm_eval'], limit: 12 };

describe('faults on a node', { timeout: 600_000 }, () => {
  let server: DevServer;
  let worker: WorkerProcess;
  let connection: Connection;
  let client: WorkflowClient;
  let leaseDir: string;
  const workerEnv = () => ({
    TEMPORAL_ADDRESS: server.address,
    NODE_NAME: NODE,
    LEASE_DIR: leaseDir,
    PORT_RANGE: '22000-22099',
  });

  before(async () => {
    leaseDir = await mkdtemp(path.join(tmpdir(), 'faults-leases-'));
    server = await DevServer.start();
    worker = WorkerProcess.start(TASK_QUEUE, workerEnv());
    await worker.waitUntilPolling();
    connection = await Connection.connect({ address: server.address });
    client = new WorkflowClient({ connection });
  });
  after(async () => {
    await worker?.stop();
    await connection?.close();
    await server?.stop();
    await removeStrayContainers();
    await rm(leaseDir, { recursive: true, force: true });
  });

  async function start(name: string) {
    const buildId = `${name}-${process.pid}`;
    const workflowId = `faults-${buildId}`;
    const handle = await client.start('lmcacheMpTest', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ ...LIGHT, buildId }],
    });
    return { buildId, workflowId, handle };
  }

  async function untilStageRuns(workflowId: string, activity: string): Promise<void> {
    for (let i = 0; i < 600; i++) {
      const pending = (await client.getHandle(workflowId).describe()).raw.pendingActivities ?? [];
      if (pending.some((p) => p.activityType?.name === activity)) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`${activity} never started`);
  }

  async function nothingLeft(workflowId: string): Promise<void> {
    assert.deepEqual(
      (await containersOf(workflowId)).map((c) => c.name),
      [],
      'no container left',
    );
    assert.deepEqual(
      (await leaseHolders(path.join(leaseDir, NODE))).filter((id) => id === workflowId),
      [],
      'no lease left',
    );
  }

  it('the LMCache container killed during lm_eval: the stage fails naming it, at once', async (t) => {
    const { buildId, workflowId, handle } = await start('lmcache-killed');
    await untilStageRuns(workflowId, 'runLmEval');
    const lmcache = containerName('lmcache', workflowId);
    let diedAt = 0;
    t.after(await watchContainerDeaths(workflowId, () => (diedAt ||= Date.now())));
    await docker().getContainer(lmcache).kill();
    await assert.rejects(handle.result(), WorkflowFailedError);
    const report = await readReport(resultsDirOf(buildId));
    const lmEval = report.stages.find((s) => s.name === 'lm_eval')!;
    assert.equal(lmEval.errorType, 'ContainerExited');
    assert.match(lmEval.error!, new RegExp(`container ${lmcache} \\(lmcache\\) is no longer running`));
    // When the stage failed, by the server's clock, against when the engine reported the death.
    const history = await client.getHandle(workflowId).fetchHistory();
    const failed = history.events?.find((e) => e.activityTaskFailedEventAttributes);
    const failedAt = Number(failed!.eventTime!.seconds) * 1000 + Math.round((failed!.eventTime!.nanos ?? 0) / 1e6);
    t.diagnostic(`lm_eval failed ${failedAt - diedAt} ms after the LMCache container died`);
    await nothingLeft(workflowId);
  });

  it('cancel during lm_eval: cleaned up within 30 s and Canceled', async () => {
    const { workflowId, handle } = await start('cancel');
    await untilStageRuns(workflowId, 'runLmEval');
    const cancelledAt = Date.now();
    await handle.cancel();
    await assert.rejects(handle.result(), WorkflowFailedError);
    assert.ok(Date.now() - cancelledAt < 30_000, `ended ${Date.now() - cancelledAt} ms after the cancel`);
    assert.equal((await client.getHandle(workflowId).describe()).status.name, 'CANCELLED');
    await nothingLeft(workflowId);
  });

  it('the worker SIGKILLed during lm_eval: a worker restarted on the same node completes the run green', async () => {
    const { buildId, workflowId, handle } = await start('worker-killed');
    await untilStageRuns(workflowId, 'runLmEval');
    await worker.kill();
    worker = WorkerProcess.start(TASK_QUEUE, workerEnv());
    await worker.waitUntilPolling();
    const report = await handle.result();
    assert.equal(report.passed, true, JSON.stringify(report.stages));
    assert.equal(report.placement?.node, NODE);
    const lmEval = (await readReport(resultsDirOf(buildId))).stages.find((s) => s.name === 'lm_eval')!;
    assert.ok((lmEval.attempts ?? 1) >= 2, 'lm_eval ran again on the restarted worker');
    await nothingLeft(workflowId);
  });
});
