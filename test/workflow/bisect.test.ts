/**
 * The bisect workflow's logic against a real local Temporal server, each probe a real child lmcacheMpTest run,
 * with test activities in place of the real ones: the range narrows to the culprit, a probe whose stage broke is run
 * again and never counted as bad, and MAX_PROBES stops a bisect with what is left.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { BisectResult, CommitInfo } from '../../src/bisect/report.js';
import type { BisectInput } from '../../src/config/bisect-input.js';
import type { Config } from '../../src/config/schema.js';
import { FailureType } from '../../src/failures.js';
import type { PlacedStageInput } from '../../src/placement/placement.js';
import { lmcacheMpBisect } from '../../src/workflows/lmcache-mp-bisect.js';
import { failing, NODE, passing, testActivities, type Calls } from '../helpers/pipeline-activities.js';
import { createLocalEnvironment, workflowBundle } from '../helpers/temporal.js';

const commit = (i: number): CommitInfo => ({
  sha: String(i % 10).repeat(40),
  subject: `change ${i}`,
  author: 'Dev <dev@example.com>',
  date: `2026-11-01T00:0${i}:00Z`,
});
/** Commit 0 is the good end; 1..9 the candidates, 9 the bad end. */
const COMMITS = Array.from({ length: 10 }, (_, i) => commit(i));
const indexOf = (sha: string) => COMMITS.findIndex((c) => c.sha === sha);

describe('lmcacheMpBisect workflow on a real Temporal server', { timeout: 180_000 }, () => {
  let env: TestWorkflowEnvironment;
  let queues = 0;

  before(async () => {
    env = await createLocalEnvironment();
  });
  after(async () => {
    await env?.teardown();
  });

  /**
   * Bisects with probes that fail long doc QA's TTFT check from `culprit` on; `broken` commits' first probe breaks
   * with a stage error. Returns the result or the failure, and the commits each probe built.
   */
  async function bisect(culprit: number, input: Partial<BisectInput>, broken: number[] = []) {
    const built: string[] = [];
    const calls: Calls = [];
    const activities = {
      ...testActivities(calls, {
        buildImage: async (config: Config) => {
          built.push(config.lmcacheRef);
          return { image: 'img', imageId: 'id', steps: [], durationMs: 5, attempt: 1 };
        },
        runLongDocQa: async (stage: PlacedStageInput) => {
          const index = indexOf(stage.config.lmcacheRef);
          if (broken.includes(index) && built.filter((sha) => sha === stage.config.lmcacheRef).length === 1) {
            throw ApplicationFailure.create({ type: FailureType.ToolMissing, message: 'long_doc_qa.py is gone' });
          }
          const check = index >= culprit ? failing : passing;
          return { checks: [check('long_doc_qa.query_ttft_per_prompt')], durationMs: 5, attempt: 1 };
        },
      }),
      listCandidateCommits: async () => ({ good: COMMITS[0]!, bad: COMMITS[9]!, candidates: COMMITS.slice(1) }),
      countFleetNodes: async () => ({ nodes: 2, names: ['node-a', 'node-b'] }),
      writeBisectReport: async () => ({ files: [] }),
    };
    const taskQueue = `bisect-${++queues}`;
    const options = { connection: env.nativeConnection, activities, maxHeartbeatThrottleInterval: '200ms' };
    const worker = await Worker.create({ ...options, taskQueue, workflowBundle: await workflowBundle() });
    const nodeWorker = await Worker.create({ ...options, taskQueue: `${taskQueue}@${NODE}` });
    const outcome = await nodeWorker.runUntil(() =>
      worker.runUntil(() =>
        env.client.workflow
          .execute(lmcacheMpBisect, {
            taskQueue,
            workflowId: `bisect-${taskQueue}`,
            args: [
              {
                good: 'v1',
                bad: 'main',
                predicate: { check: 'long_doc_qa.query_ttft_per_prompt' },
                config: { profile: 'sim', stages: ['build', 'launch', 'health', 'long_doc_qa'] },
                ...input,
              },
            ],
          })
          .then(
            (result: BisectResult) => ({ result, error: undefined }),
            (error: unknown) => ({ result: undefined, error }),
          ),
      ),
    );
    return { ...outcome, built };
  }

  it('names the culprit with k probes per round, the fleet’s size by default, within ⌈log3 9⌉ = 2 rounds', async () => {
    const { result, error } = await bisect(6, {});
    assert.equal(error, undefined);
    assert.equal(result!.parallelProbes, 2);
    assert.equal(result!.firstBad?.sha, COMMITS[6]!.sha);
    assert.equal(result!.lastGood?.sha, COMMITS[5]!.sha);
    assert.ok(result!.rounds <= 2, `${result!.rounds} rounds`);
    assert.deepEqual(
      result!.probes.filter((p) => p.round === 0).map((p) => p.outcome),
      ['good', 'bad'],
    );
  });

  it('a probe whose stage broke is run again, and is decided by the run that measured', async () => {
    // With one probe per round the range reaches commit 5 in the third round; its first run breaks.
    const { result, error, built } = await bisect(5, { parallelProbes: 1 }, [5]);
    assert.equal(error, undefined);
    assert.equal(result!.firstBad?.sha, COMMITS[5]!.sha);
    const probe = result!.probes.find((p) => p.commit.sha === COMMITS[5]!.sha)!;
    assert.equal(probe.outcome, 'bad');
    assert.equal(probe.repeats?.length, 1);
    assert.equal(built.filter((sha) => sha === COMMITS[5]!.sha).length, 2);
  });

  it('MAX_PROBES stops the bisect, saying how many commits are left', async () => {
    const { error } = await bisect(6, { parallelProbes: 1, maxProbes: 3 });
    assert.ok(error instanceof WorkflowFailedError, String(error));
    const cause = error.cause as ApplicationFailure;
    assert.equal(cause.type, FailureType.BisectInconclusive);
    assert.match(cause.message, /MAX_PROBES=3 reached with \d+ commits left/);
  });
});
