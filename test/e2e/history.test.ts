/**
 * Run history end to end: three sim runs and one with a slow LMCache load, on a Temporal dev server of this
 * test's own, found through their search attributes with the `temporal` CLI, listed and charted by the
 * `history` command, and compared with the earlier runs in the last run's report.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { execa } from 'execa';
import type { ConfigInput } from '../../src/config/schema.js';
import { staticSummary } from '../../src/workflows/run-summary.js';
import { imagesOfRenderedMarkdown } from '../helpers/chromium.js';
import { PROJECT_ROOT } from '../helpers/temporal.js';
import { DevServer, WorkerProcess } from '../helpers/temporal-processes.js';
import { removeStrayContainers, resultsDirOf } from './harness.js';

const TASK_QUEUE = `e2e-history-${process.pid}`;
// A light workload: the history is about the figures, not the full suite. (Fewer documents than the sim
// default leave slow-load's TTFT under the limit.)
const LIGHT: ConfigInput = { stages: ['build', 'launch', 'health', 'long_doc_qa'] };

describe('run history end to end', { timeout: 900_000 }, () => {
  let server: DevServer;
  let worker: WorkerProcess;
  const passingBuilds = [1, 2, 3].map((i) => `hist-${i}-${process.pid}`);
  const slowBuild = `hist-slow-${process.pid}`;
  const workflowIdOf = (buildId: string) => `e2e-${buildId}`;

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

  async function execute(buildId: string, input: ConfigInput) {
    const config = { profile: 'sim' as const, model: 'sim/greedy-echo', buildId };
    const result = await server.cli([
      'workflow',
      'execute',
      '--type',
      'lmcacheMpTest',
      '--task-queue',
      TASK_QUEUE,
      '--workflow-id',
      workflowIdOf(buildId),
      '--static-summary',
      staticSummary(config),
      '--input',
      JSON.stringify({ ...config, ...LIGHT, ...input }),
    ]);
    return { exitCode: result.exitCode, output: result.all ?? '' };
  }

  /** Workflow ids a visibility query lists (as the README shows it). */
  async function listed(query: string): Promise<string[]> {
    const result = await server.cli(['workflow', 'list', '--query', query, '--output', 'json']);
    assert.equal(result.exitCode, 0, result.all);
    const text = (result.all ?? '').trim();
    const executions = (
      text.startsWith('[')
        ? JSON.parse(text)
        : text
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line))
    ) as {
      execution: { workflowId: string };
    }[];
    return executions.map((e) => e.execution.workflowId).sort();
  }

  it('three passing runs, then a slow-load run that fails', async () => {
    for (const buildId of passingBuilds) {
      const run = await execute(buildId, {});
      assert.equal(run.exitCode, 0, `${buildId}: ${run.output}`);
    }
    const slow = await execute(slowBuild, { simDefect: 'slow-load' });
    assert.notEqual(slow.exitCode, 0, slow.output);
  });

  it('visibility queries find runs by verdict, stage and figure', async () => {
    assert.deepEqual(await listed('LmcacheMpVerdict="failed"'), [workflowIdOf(slowBuild)]);
    assert.deepEqual(await listed('LmcacheMpVerdict="passed"'), passingBuilds.map(workflowIdOf).sort());
    assert.deepEqual(await listed('LmcacheMpFailedStage="long_doc_qa"'), [workflowIdOf(slowBuild)]);
    assert.deepEqual(await listed('LmcacheMpFailedChecks="long_doc_qa.query_ttft_per_prompt"'), [
      workflowIdOf(slowBuild),
    ]);
    assert.deepEqual(await listed('LmcacheMpQueryTtft > 0.1'), [workflowIdOf(slowBuild)]);
    assert.equal((await listed(`LmcacheMpProfile="sim" AND LmcacheMpBuildId="${passingBuilds[0]}"`)).length, 1);
  });

  it('the UI shows the static summary and, at the end, the verdict with the key figures', async () => {
    const connection = await Connection.connect({ address: server.address });
    try {
      const description = await new Client({ connection }).workflow.getHandle(workflowIdOf(slowBuild)).describe();
      assert.equal(await description.staticSummary(), `LMCache MP test · sim · sim/greedy-echo · build ${slowBuild}`);
    } finally {
      await connection.close();
    }
    const metadata = await server.cli(['workflow', 'metadata', '--workflow-id', workflowIdOf(slowBuild)]);
    assert.equal(metadata.exitCode, 0, metadata.all);
    assert.match(
      metadata.all ?? '',
      /FAILED · failed stage long_doc_qa · Query TTFT \(LMCache\) [\d.]+ s/,
      metadata.all,
    );
  });

  it('history lists all four runs with their figures, charts them and flags the query TTFT regression', async () => {
    const outDir = await mkdtemp(path.join(tmpdir(), 'e2e-history-'));
    const history = await execa(
      'node',
      ['dist/src/client/cli.js', 'history', '--profile', 'sim', '--last', '10', '--out', outDir],
      {
        cwd: PROJECT_ROOT,
        env: { TEMPORAL_ADDRESS: server.address },
        reject: false,
        all: true,
      },
    );
    assert.equal(history.exitCode, 0, history.all);
    const rows = history.all.split('\n').filter((line) => /^\s+\d{4}-\d\d-\d\dT/.test(line));
    assert.equal(rows.length, 4, history.all);
    for (const row of rows) assert.match(row, /(passed|failed)\s+\S+\s+\d+(\.\d+)?\s+\d+(\.\d+)?/, `figures of ${row}`);
    assert.match(
      history.all,
      new RegExp(
        `REGRESSION: Query TTFT \\(LMCache\\) of build ${slowBuild} is [\\d.]+ s, [\\d.]+ % worse than the median`,
      ),
    );
    assert.doesNotMatch(history.all, /REGRESSION: Throughput/, 'vllm bench did not run: no throughput figure, no flag');

    const markdown = await readFile(path.join(outDir, 'history.md'), 'utf8');
    for (const buildId of [...passingBuilds, slowBuild]) assert.ok(markdown.includes(`\`${buildId}\``), buildId);
    assert.match(markdown, /### ❌ Regression/);
    assert.deepEqual((await readdir(path.join(outDir, 'charts'))).sort(), [
      'query_round_time.svg',
      'query_ttft.svg',
      'throughput_ratio.svg',
    ]);
    const ttftChart = await readFile(path.join(outDir, 'charts', 'query_ttft.svg'), 'utf8');
    assert.equal(
      (ttftChart.match(/<circle cx/g) ?? []).length - 1,
      3,
      'three passing runs drawn as dots (plus the legend)',
    );
    assert.ok(ttftChart.includes(`${slowBuild}: `) && ttftChart.includes('(failed)'), 'the failed run is marked');
    const images = await imagesOfRenderedMarkdown(path.join(outDir, 'history.md'));
    assert.equal(images.length, 3);
    for (const image of images) assert.ok(image.naturalWidth > 0, `${image.src} loads`);
  });

  it("the slow run's report compares it with the three passing runs before it", async () => {
    const reportFile = path.join(resultsDirOf(slowBuild), 'report.md');
    const report = await readFile(reportFile, 'utf8');
    assert.match(report, /## Against the last 3 passing runs/);
    for (const buildId of passingBuilds) assert.ok(report.includes(`\`${buildId}\``), buildId);
    assert.match(report, /❌ \*\*Regression\*\*: Query TTFT \(LMCache\) of build/);
    assert.match(report, /\| Query TTFT \(LMCache\) \| [\d.]+ s \| [\d.]+ s \| 3 \| [\d.]+ % worse \| ❌ regression/);
    const images = await imagesOfRenderedMarkdown(reportFile);
    assert.equal(images.length, 3);
    for (const image of images) assert.ok(image.naturalWidth > 0, `${image.src} loads`);

    const firstReport = await readFile(path.join(resultsDirOf(passingBuilds[0]!), 'report.md'), 'utf8');
    assert.match(firstReport, /No earlier passing run of profile sim/);
  });
});
