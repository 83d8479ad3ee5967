/**
 * A bisect end to end: a real git repository holding the sim image's build context, 12 commits, where commit 8
 * plants `slow-load` in its `sim-defect` file. `scripts/bisect.sh` with one probe per round must name commit 8
 * within 2 + ⌈log2 12⌉ = 6 probes; on two sim nodes, the fleet's default of two probes per round takes fewer rounds
 * (and reuses the images the first bisect built); two good ends stop with a message that says which end is wrong.
 */
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BisectResult } from '../../src/bisect/report.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { nodePortRange } from '../helpers/ports.js';
import { makeSimRepo, type SimRepo } from '../helpers/sim-repo.js';
import { PROJECT_ROOT } from '../helpers/temporal.js';
import { DevServer, WorkerProcess } from '../helpers/temporal-processes.js';
import { allPipelineContainers, removeStrayContainers } from './harness.js';

const TASK_QUEUE = `e2e-bisect-${process.pid}`;
/** The lightest probe that still shows slow-load: long doc QA's query TTFT over the sim's 0.2 s limit. */
const PROBE: ConfigInput = { profile: 'sim', stages: ['build', 'launch', 'health', 'long_doc_qa'] };
const CHECK = { check: 'long_doc_qa.query_ttft_per_prompt' };

type HistoryEvent = {
  eventType: string;
  workflowExecutionCompletedEventAttributes?: { result?: { payloads: { data: string }[] } };
  workflowExecutionFailedEventAttributes?: { failure: { message: string; applicationFailureInfo?: { type: string } } };
};

describe('bisect end to end', { timeout: 1_500_000 }, () => {
  let server: DevServer;
  let leaseDir: string;
  let repo: SimRepo;
  const workers: WorkerProcess[] = [];

  before(async () => {
    server = await DevServer.start();
    leaseDir = await mkdtemp(path.join(tmpdir(), 'bisect-leases-'));
    for (const node of ['bisect-a', 'bisect-b']) {
      const env = {
        TEMPORAL_ADDRESS: server.address,
        NODE_NAME: node,
        LEASE_DIR: leaseDir,
        PORT_RANGE: await nodePortRange(),
      };
      workers.push(WorkerProcess.start(TASK_QUEUE, env));
    }
    await Promise.all(workers.map((worker) => worker.waitUntilPolling()));
    repo = await makeSimRepo({ commits: 12, defectAt: { 7: 'slow-load' } });
  });
  after(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await server?.stop();
    await removeStrayContainers();
    if (repo) await rm(repo.dir, { recursive: true, force: true });
    if (leaseDir) await rm(leaseDir, { recursive: true, force: true });
  });

  async function history(workflowId: string): Promise<HistoryEvent[]> {
    const shown = await server.cli(['workflow', 'show', '--workflow-id', workflowId, '--output', 'json']);
    assert.equal(shown.exitCode, 0, shown.all);
    return (JSON.parse(shown.stdout) as { events: HistoryEvent[] }).events;
  }

  async function resultOf(workflowId: string): Promise<BisectResult> {
    const completed = (await history(workflowId)).find(
      (e) => e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED',
    );
    assert.ok(completed, `${workflowId} did not complete`);
    const data = completed.workflowExecutionCompletedEventAttributes!.result!.payloads[0].data;
    return JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as BisectResult;
  }

  function execute(workflowId: string, input: object) {
    return server.cli([
      'workflow',
      'execute',
      '--type',
      'lmcacheMpBisect',
      '--task-queue',
      TASK_QUEUE,
      '--workflow-id',
      workflowId,
      '--input',
      JSON.stringify(input),
    ]);
  }

  let oneAtATime: BisectResult;
  it('scripts/bisect.sh names commit 8 with one probe per round, in at most 6 probes, and writes bisect.md', async () => {
    const buildId = `bisect1-${process.pid}`;
    const workflowId = `lmcache-mp-bisect-${buildId}`;
    const run = await execa('bash', ['scripts/bisect.sh', repo.shas[0], repo.shas[11], '--check', CHECK.check], {
      cwd: PROJECT_ROOT,
      env: {
        TEMPORAL_ADDRESS: server.address,
        WORKER_RUNNING: '1',
        TASK_QUEUE,
        BUILD_ID: buildId,
        PROFILE: 'sim',
        STAGES: PROBE.stages!.join(','),
        LMCACHE_REPO_DIR: repo.dir,
        BISECT_PARALLEL_PROBES: '1',
      },
      reject: false,
      all: true,
    });
    assert.equal(run.exitCode, 0, run.all);
    oneAtATime = await resultOf(workflowId);
    assert.equal(oneAtATime.firstBad?.sha, repo.shas[7], JSON.stringify(oneAtATime.probes, null, 2));
    assert.equal(oneAtATime.lastGood?.sha, repo.shas[6]);
    assert.ok(oneAtATime.probes.length <= 6, `${oneAtATime.probes.length} probes`);
    // bisect.md names the culprit; the script printed it.
    const markdown = await readFile(`/tmp/lmcache_ci_results_${buildId}/bisect.md`, 'utf8');
    assert.match(markdown, new RegExp(repo.shas[7].slice(0, 12)));
    assert.match(run.stdout, new RegExp(repo.shas[7].slice(0, 12)));
    assert.deepEqual(await allPipelineContainers(), []);
  });

  it('on two nodes, two probes per round (the fleet default) take fewer rounds and reuse the built images', async () => {
    const workflowId = `e2e-bisect2-${process.pid}`;
    const run = await execute(workflowId, {
      good: repo.shas[0],
      bad: repo.shas[11],
      predicate: CHECK,
      config: { ...PROBE, lmcacheRepoDir: repo.dir },
    });
    assert.equal(run.exitCode, 0, run.all);
    const result = await resultOf(workflowId);
    assert.equal(result.firstBad?.sha, repo.shas[7]);
    assert.equal(result.parallelProbes, 2);
    assert.ok(result.rounds < oneAtATime.rounds, `${result.rounds} rounds with 2 nodes, ${oneAtATime.rounds} with 1`);
  });

  it('two good ends stop the bisect, naming the end that did not fail', async () => {
    const workflowId = `e2e-bisect3-${process.pid}`;
    const run = await execute(workflowId, {
      good: repo.shas[0],
      bad: repo.shas[3],
      predicate: CHECK,
      config: { ...PROBE, lmcacheRepoDir: repo.dir },
    });
    assert.notEqual(run.exitCode, 0);
    const failed = (await history(workflowId)).find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED');
    const failure = failed?.workflowExecutionFailedEventAttributes?.failure;
    assert.equal(failure?.applicationFailureInfo?.type, 'BisectInconclusive');
    assert.match(failure!.message, new RegExp(`the bad end ${repo.shas[3].slice(0, 12)} is good`));
  });
});
