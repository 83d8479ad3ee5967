/**
 * Determinism guard: histories recorded from real sim runs (`temporal workflow show --output json`) must
 * replay against the current workflow code. A change that alters the commands a recorded run issued fails
 * here before it can break runs in flight. `sim-placed-*.json` are today's path (scripts/record-histories.sh
 * records them: a node claimed, GPUs and ports leased; green, held and retried, a script stage, cancelled); the
 * older ones stay, for the runs their patches keep replayable.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { bundleWorkflows, workflowBundle } from '../helpers/temporal.js';

const HISTORIES = fileURLToPath(new URL('../../../test/fixtures/histories/', import.meta.url));
const COMPILED_SRC = fileURLToPath(new URL('../../src/', import.meta.url));

const readHistory = async (file: string) => JSON.parse(await readFile(`${HISTORIES}${file}`, 'utf8'));

/**
 * A copy of the compiled workflow whose pipeline runs vllm_bench before lm_eval: the kind of edit that would
 * break runs in flight. Written beside the test (so its packages resolve): the workflow and its pipeline module,
 * the pipeline altered, every other import pointed at dist/src/.
 */
async function bundleWithBenchmarksReordered() {
  const workflows = path.join(COMPILED_SRC, 'workflows');
  const pipeline = await readFile(path.join(workflows, 'pipeline.js'), 'utf8');
  const lmEval = "{ stage: 'lm_eval', activity: 'runLmEval' },";
  const vllmBench = "{ stage: 'vllm_bench', activity: 'runVllmBench' },";
  const order = `${lmEval}\n    ${vllmBench}`;
  assert.ok(pipeline.includes(order), 'the benchmark order to alter is where this test expects it');
  const pointedAtDist = (source: string) =>
    source
      .replace(/from '\.\.\//g, `from '${COMPILED_SRC}`)
      .replace(/from '\.\/(?!pipeline\.js)/g, `from '${workflows}/`);
  const dir = await mkdtemp(fileURLToPath(new URL('./altered-workflow-', import.meta.url)));
  try {
    await writeFile(
      path.join(dir, 'pipeline.js'),
      pointedAtDist(pipeline.replace(order, `${vllmBench}\n    ${lmEval}`)),
    );
    const workflow = await readFile(path.join(workflows, 'lmcache-mp-test.js'), 'utf8');
    await writeFile(path.join(dir, 'index.js'), pointedAtDist(workflow));
    return await bundleWorkflows(path.join(dir, 'index.js'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('recorded histories replay', { timeout: 120_000 }, async () => {
  const files = (await readdir(HISTORIES)).filter((file) => file.endsWith('.json'));
  it('has recorded histories to replay', () => assert.ok(files.length >= 2, files.join(', ')));
  for (const file of files) {
    it(file, async () => {
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await readHistory(file), file);
    });
  }

  it("has today's path recorded: claimNode, the lease (select_gpus), a retryStage, a script stage, a cancel", async () => {
    const text = async (file: string) => JSON.stringify(await readHistory(file));
    const pass = await text('sim-placed-pass.json');
    for (const activity of ['claimNode', 'leaseResources', 'launchContainers', 'runLmEval', 'runLongDocQa'])
      assert.match(pass, new RegExp(`"name":"${activity}"`), activity);
    assert.match(await text('sim-placed-held.json'), /"name":"retryStage"/);
    assert.match(await text('sim-placed-script.json'), /"name":"runScriptStage"/);
    assert.match(await text('sim-placed-cancelled.json'), /EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED/);
  });

  let altered: ReturnType<typeof bundleWithBenchmarksReordered> | undefined;
  for (const file of ['sim-pass.json', 'sim-placed-pass.json']) {
    it(`catches a workflow changed to run its stages in another order as non-deterministic (${file})`, async () => {
      altered ??= bundleWithBenchmarksReordered();
      await assert.rejects(
        Worker.runReplayHistory({ workflowBundle: await altered }, await readHistory(file), file),
        (error: unknown) => {
          assert.ok(error instanceof DeterminismViolationError, `expected a DeterminismViolationError, got ${error}`);
          assert.match(error.message, /'runLmEval'.*'runVllmBench'/);
          return true;
        },
      );
    });
  }
});
