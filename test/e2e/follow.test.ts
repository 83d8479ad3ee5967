/**
 * `cli.js follow` on real sim runs, two at once on one worker: a light passing run through the README's run
 * command in a Buildkite job (it starts the run and follows it), and a run whose vLLM server dies
 * (SIM_DEFECT=crash-after:5, during lm_eval) started with `temporal workflow start` and followed from another
 * process. Then the finished runs followed again as GitHub Actions would: from their histories alone.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { containerName } from '../../src/commands/containers.js';
import { PROJECT_ROOT } from '../helpers/temporal.js';
import { DevServer, WorkerProcess } from '../helpers/temporal-processes.js';
import { leftoverContainers, removeStrayContainers, startRun } from './harness.js';

const TASK_QUEUE = `e2e-follow-${process.pid}`;
const STAGES = ['build', 'select_gpus', 'launch', 'health', 'lm_eval', 'vllm_bench', 'cleanup'];
/** A line of follow's: the time since the run started, then what happened. */
const TIMED = String.raw`^\[\+\d+:\d\d\] `;

describe('follow', { timeout: 1_800_000 }, () => {
  let server: DevServer;
  let worker: WorkerProcess;
  const passing = { buildId: `follow-pass-${process.pid}`, workflowId: '', exitCode: -1, output: '' };
  const crashing = { workflowId: `e2e-follow-crash-${process.pid}`, exitCode: -1, output: '' };

  const follow = (workflowId: string, env: Record<string, string>) =>
    execa('node', ['dist/src/client/cli.js', 'follow', '--workflow-id', workflowId], {
      cwd: PROJECT_ROOT,
      env: { TEMPORAL_ADDRESS: server.address, BUILDKITE: '', GITHUB_ACTIONS: '', ...env },
      reject: false,
      all: true,
    });

  before(async () => {
    server = await DevServer.start();
    worker = WorkerProcess.start(TASK_QUEUE, { TEMPORAL_ADDRESS: server.address });
    await worker.waitUntilPolling();
    passing.workflowId = `lmcache-mp-test-${passing.buildId}`;
    const started = await startRun(server, TASK_QUEUE, crashing.workflowId, {
      profile: 'sim',
      buildId: crashing.workflowId,
      simDefect: 'crash-after:5',
      limit: 10,
      stages: ['build', 'launch', 'health', 'lm_eval'],
    });
    assert.equal(started.exitCode, 0, started.all);
    const [pass, crash] = await Promise.all([
      execa('bash', ['scripts/run-mp-test.sh'], {
        cwd: PROJECT_ROOT,
        env: {
          TEMPORAL_ADDRESS: server.address,
          WORKER_RUNNING: '1',
          TASK_QUEUE,
          BUILD_ID: passing.buildId,
          PROFILE: 'sim',
          BUILDKITE: 'true',
          GITHUB_ACTIONS: '',
          // The lightest run that still shows each stage's progress.
          STAGES: 'build,launch,health,lm_eval,vllm_bench',
          LIMIT: '10',
          NUM_PROMPTS: '12',
        },
        reject: false,
        all: true,
      }),
      follow(crashing.workflowId, {}),
    ]);
    Object.assign(passing, { exitCode: pass.exitCode, output: pass.all ?? '' });
    Object.assign(crashing, { exitCode: crash.exitCode, output: crash.all ?? '' });
  });
  after(async () => {
    await worker?.stop();
    await server?.stop();
    await removeStrayContainers();
  });

  it('run-mp-test.sh prints every stage start and end with times, BuildKit steps and tool progress before the summary', () => {
    const { output } = passing;
    assert.equal(passing.exitCode, 0, output);
    const summary = output.indexOf('Verdict: PASSED');
    assert.ok(summary > 0, output);
    let from = 0;
    for (const stage of STAGES) {
      const start = new RegExp(`${TIMED}${stage} started: .*\\(attempt 1 of \\d+, node [^)]+\\)$`, 'm');
      const end = new RegExp(`${TIMED}${stage} passed in \\d+\\.\\d s$`, 'm');
      const started = output.slice(from).search(start);
      assert.ok(started >= 0, `${stage} starts after the stage before it:\n${output}`);
      const ended = output.slice(from + started).search(end);
      assert.ok(ended >= 0, `${stage} ends:\n${output}`);
      from += started + ended;
    }
    assert.ok(from < summary, 'every stage line comes before the summary');
    assert.match(output, new RegExp(`${TIMED}build: #\\d+ .*COPY`, 'm'), 'BuildKit step lines');
    assert.match(output, new RegExp(`${TIMED}lm_eval: lm_eval first_run: \\d+/10 samples$`, 'm'));
    assert.match(output, new RegExp(`${TIMED}vllm_bench: vllm bench serve baseline: \\d+/12 requests completed$`, 'm'));
  });

  it('gives Buildkite one --- section per stage, in order', () => {
    const sections = passing.output.split('\n').filter((line) => line.startsWith('--- '));
    assert.deepEqual(
      sections.map((line) => line.split(' ').at(-1)),
      STAGES,
      passing.output,
    );
  });

  it("a dead container's last lines and the path of its whole log are printed, and follow exits 1", async () => {
    const { output } = crashing;
    assert.equal(crashing.exitCode, 1, output);
    const vllm = containerName('vllm', crashing.workflowId);
    const evidence = new RegExp(
      `^ {4}--- last (\\d+) lines of container ${vllm} \\(exited\\); whole log on the worker's node: (\\S+\\.full\\.log) ---$`,
      'm',
    );
    const match = evidence.exec(output);
    assert.ok(match, output);
    const [, count, file] = match;
    assert.ok(Number(count) > 0 && Number(count) <= 30);
    assert.ok(existsSync(file!), `${file} was kept`);
    const after = output.slice(match.index + match[0].length + 1).split('\n');
    assert.ok(
      after.slice(0, Number(count)).every((line) => line.startsWith('    | ')),
      `the ${count} lines follow:\n${output}`,
    );
    assert.match(output, new RegExp(`${TIMED}lm_eval FAILED in \\d+\\.\\d s: ContainerExited: container ${vllm}`, 'm'));
    assert.deepEqual(await leftoverContainers(crashing.workflowId), []);
  });

  it('follows finished runs from their histories as GitHub Actions: a group per stage, ::error for the failure', async () => {
    const [pass, crash] = await Promise.all([
      follow(passing.workflowId, { GITHUB_ACTIONS: 'true' }),
      follow(crashing.workflowId, { GITHUB_ACTIONS: 'true' }),
    ]);
    assert.equal(pass.exitCode, 0, pass.all);
    const lines = (pass.all ?? '').split('\n');
    assert.deepEqual(
      lines.filter((line) => line.startsWith('::group::')),
      STAGES.map((stage) => `::group::${stage}`),
    );
    assert.equal(lines.filter((line) => line === '::endgroup::').length, STAGES.length);
    assert.equal(crash.exitCode, 1, crash.all);
    assert.match(crash.all ?? '', /^::error title=lm_eval::stage lm_eval failed: ContainerExited: /m);
  });
});
