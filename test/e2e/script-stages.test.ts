/**
 * Script stages end to end in the sim profile, started with the `temporal` CLI: two example scripts from
 * test/fixtures/scripts (inside the default checkout, this project) run as stages after the servers are up;
 * bad scripts are refused before anything starts; cancelling during a script stops its process group.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import type { RunReport } from '../../src/report/types.js';
import { PROJECT_ROOT } from '../helpers/temporal.js';
import { DevServer, WorkerProcess } from '../helpers/temporal-processes.js';
import { waitFor } from '../helpers/wait.js';
import { exists, leftoverContainers, readReport, removeStrayContainers, resultsDirOf, startRun } from './harness.js';

const TASK_QUEUE = `e2e-scripts-${process.pid}`;
const FIXTURES = 'test/fixtures/scripts';
// The light workload: the servers only, then the scripts.
const SERVERS_ONLY = ['build', 'launch', 'health'];

/** Gone, or a zombie: dead and only waiting for init to reap it. */
function processEnded(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .startsWith('Z');
  } catch {
    return true;
  }
}

interface HistoryEvent {
  activityTaskScheduledEventAttributes?: { activityType: { name: string } };
  workflowExecutionFailedEventAttributes?: { failure: { applicationFailureInfo?: { type?: string } } };
  userMetadata?: { summary?: { data?: string } };
}

describe('script stages end to end', { timeout: 900_000 }, () => {
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

  const workflowIdOf = (buildId: string) => `e2e-${buildId}`;
  const stage = (report: RunReport, name: string) => report.stages.find((s) => s.name === name);

  async function execute(buildId: string, input: object) {
    const result = await server.cli([
      'workflow',
      'execute',
      '--type',
      'lmcacheMpTest',
      '--task-queue',
      TASK_QUEUE,
      '--workflow-id',
      workflowIdOf(buildId),
      '--input',
      JSON.stringify({ profile: 'sim', buildId, ...input }),
    ]);
    return { exitCode: result.exitCode, output: result.all ?? '' };
  }

  async function historyOf(workflowId: string): Promise<HistoryEvent[]> {
    const history = await server.cli(['workflow', 'show', '--workflow-id', workflowId, '--output', 'json']);
    return (JSON.parse(history.all ?? '{}') as { events: HistoryEvent[] }).events;
  }

  /** The activities a run scheduled, with the summary each shows in the Temporal UI. */
  async function scheduledActivities(workflowId: string): Promise<Array<{ type: string; summary: string }>> {
    return (await historyOf(workflowId))
      .filter((event) => event.activityTaskScheduledEventAttributes)
      .map((event) => {
        const summary = event.userMetadata?.summary?.data;
        return {
          type: event.activityTaskScheduledEventAttributes!.activityType.name,
          summary: summary ? JSON.parse(Buffer.from(summary, 'base64').toString('utf8')) : '',
        };
      });
  }

  it('runs two example scripts as stages: one passes and writes its file, one fails its check', async () => {
    const buildId = `scripts-${process.pid}`;
    const workflowId = workflowIdOf(buildId);
    // The model as a directory on the node, as GPU nodes serve it: the sim vLLM servers, like vLLM, start only
    // when it is mounted, and the passing script sees it served under that path.
    const modelDir = await mkdtemp(path.join(tmpdir(), 'e2e-model-'));
    const run = await execute(buildId, {
      model: modelDir,
      stages: SERVERS_ONLY,
      numPrompts: 5,
      scripts: [`${FIXTURES}/run-env-check.sh`, `${FIXTURES}/run-exit-three.sh`],
    });
    assert.notEqual(run.exitCode, 0, run.output);
    assert.match(run.output, /1 check\(s\) failed: exit_three\.exit_code/);

    const dir = resultsDirOf(buildId);
    const report = await readReport(dir);
    assert.equal(report.passed, false);
    assert.deepEqual(
      report.stages.map((s) => [s.name, s.status]),
      [
        ['build', 'passed'],
        ['select_gpus', 'passed'],
        ['launch', 'passed'],
        ['health', 'passed'],
        ['lm_eval', 'skipped'],
        ['vllm_bench', 'skipped'],
        ['long_doc_qa', 'skipped'],
        ['env_check', 'passed'],
        ['exit_three', 'failed'],
        ['cleanup', 'passed'],
      ],
    );
    assert.deepEqual(
      report.checks.map((c) => [c.name, c.passed, c.value, c.limit]),
      [
        ['env_check.exit_code', true, 0, 0],
        ['exit_three.exit_code', false, 3, 0],
      ],
    );
    const lastLine = /exited with 3; last lines: .*"❌ failing on purpose with exit code 3"/;
    assert.equal(stage(report, 'exit_three')!.error, '1 check failed: exit_three.exit_code');
    assert.match(report.checks.find((check) => check.name === 'exit_three.exit_code')!.detail!, lastLine);

    // The passing script saw the run's settings (the ports it leased), and the servers were up while it ran.
    const environment = await readFile(path.join(dir, 'env_check', 'environment.txt'), 'utf8');
    const ports = report.placement!.ports;
    const expected = [
      `RESULTS_DIR=${dir}`,
      `BUILD_ID=${buildId}`,
      `MODEL=${modelDir}`,
      `VLLM_PORT=${ports.vllm}`,
      `VLLM_BASELINE_PORT=${ports.baseline}`,
      `LMCACHE_PORT=${ports.lmcache}`,
      'NUM_PROMPTS=5',
    ];
    for (const line of expected) {
      assert.ok(environment.split('\n').includes(line), `${line} in\n${environment}`);
    }
    assert.match(environment, /^VENV_DIR=\/.*\/\.venv$/m);
    const served = JSON.parse(await readFile(path.join(dir, 'env_check', 'models.json'), 'utf8')) as {
      data: Array<{ id: string }>;
    };
    assert.deepEqual(
      served.data.map((model) => model.id),
      [modelDir],
    );
    assert.match(await readFile(path.join(dir, 'env_check', 'env_check.log'), 'utf8'), /✅ environment check passed/);
    assert.match(await readFile(path.join(dir, 'exit_three', 'exit_three.log'), 'utf8'), /failing on purpose/);

    const markdown = await readFile(path.join(dir, 'report.md'), 'utf8');
    assert.match(markdown, /\| env_check \| ✅ passed \|/);
    assert.match(markdown, /\| exit_three \| ❌ failed \|/);
    assert.match(markdown, /\| `exit_three\.exit_code` \| ❌ fail \| 3 \| 0 \|/);
    const junit = await readFile(path.join(dir, 'junit.xml'), 'utf8');
    assert.match(junit, /<testcase name="env_check" classname="stages" time="[\d.]+"\/>/);
    assert.match(junit, /<testcase name="env_check\.exit_code" classname="env_check" time="[\d.]+"\/>/);
    assert.match(junit, /<testcase name="exit_three\.exit_code" classname="exit_three" time="[\d.]+">\s*<failure /);
    assert.match(junit, /<failure message="exited with 3; last lines: /);

    // Each script is its own activity in the Temporal UI's timeline, with its own summary.
    const activities = await scheduledActivities(workflowId);
    assert.deepEqual(
      activities.filter((a) => a.type === 'runScriptStage' || a.type === 'checkInputFiles'),
      [
        { type: 'checkInputFiles', summary: 'check the files the input names' },
        { type: 'runScriptStage', summary: `script ${FIXTURES}/run-env-check.sh` },
        { type: 'runScriptStage', summary: `script ${FIXTURES}/run-exit-three.sh` },
      ],
    );
    assert.deepEqual(await leftoverContainers(workflowId), []);
  });

  it('refuses bad scripts in the CLI before anything starts: exit 2, naming the field', async () => {
    const cases: Array<[string, RegExp]> = [
      [`${FIXTURES}/not-executable.sh`, /scripts\.0: .*not-executable\.sh is not executable/],
      [`${FIXTURES}/run-missing.sh`, /scripts\.0: .*run-missing\.sh does not exist on this node/],
      [`${FIXTURES}/run-outside-link.sh`, /scripts\.0: .*run-outside-link\.sh is outside lmcacheRepoDir/],
      ['/bin/true', /scripts\.0: \/bin\/true is outside lmcacheRepoDir/],
      [`../${FIXTURES}/run-exit-three.sh`, /scripts\.0: must not contain "\.\."/],
      [`${FIXTURES}/run-exit-three.sh;id`, /scripts\.0: must be a plain path/],
      [`${FIXTURES}/run-env-check.sh,test/run-lm-eval.sh`, /scripts\.1: would be stage "lm_eval", which is a built-in/],
    ];
    for (const [extraTests, expected] of cases) {
      const result = await execa('node', ['dist/src/client/cli.js', 'input', '--workflow-id', 'e2e-bad-scripts'], {
        cwd: PROJECT_ROOT,
        env: { EXTRA_TESTS: extraTests, PROFILE: 'sim' },
        reject: false,
      });
      assert.equal(result.exitCode, 2, `${extraTests}: ${result.stderr}`);
      assert.match(result.stderr, expected, extraTests);
      assert.equal(result.stdout, '', 'no input is printed for the run');
    }
  });

  it('refuses a bad script in scripts/run-mp-test.sh with exit 2, before any run starts', async () => {
    const buildId = `bad-script-cli-${process.pid}`;
    const run = await execa('bash', ['scripts/run-mp-test.sh'], {
      cwd: PROJECT_ROOT,
      env: {
        TEMPORAL_ADDRESS: server.address,
        WORKER_RUNNING: '1',
        TASK_QUEUE,
        BUILD_ID: buildId,
        PROFILE: 'sim',
        EXTRA_TESTS: `${FIXTURES}/not-executable.sh`,
      },
      reject: false,
      all: true,
    });
    assert.equal(run.exitCode, 2, run.all);
    assert.match(run.all, /scripts\.0: .*not-executable\.sh is not executable/);
    const described = await server.cli(['workflow', 'describe', '--workflow-id', `lmcache-mp-test-${buildId}`]);
    assert.notEqual(described.exitCode, 0, 'no workflow was started');
  });

  it('refuses bad scripts through temporal workflow execute before the build', async () => {
    const notExecutable = `bad-script-${process.pid}`;
    const scripts = [`${FIXTURES}/run-env-check.sh`, `${FIXTURES}/not-executable.sh`];
    const run = await execute(notExecutable, { scripts });
    assert.notEqual(run.exitCode, 0);
    assert.match(run.output, /scripts\.1: .*not-executable\.sh is not executable/);
    const events = await historyOf(workflowIdOf(notExecutable));
    const failed = events.find((event) => event.workflowExecutionFailedEventAttributes)!;
    assert.equal(failed.workflowExecutionFailedEventAttributes!.failure.applicationFailureInfo?.type, 'InvalidConfig');
    assert.deepEqual(
      (await scheduledActivities(workflowIdOf(notExecutable))).map((a) => a.type),
      ['checkInputFiles'],
    );
    assert.ok(!exists(resultsDirOf(notExecutable)), 'nothing was written');

    // Refused by the schema inside the workflow: no activity at all.
    const dotDot = `bad-script-path-${process.pid}`;
    const refused = await execute(dotDot, { scripts: ['../elsewhere/run-a.sh'] });
    assert.notEqual(refused.exitCode, 0);
    assert.match(refused.output, /scripts\.0: must not contain "\.\."/);
    assert.deepEqual(await scheduledActivities(workflowIdOf(dotDot)), []);
  });

  it('cancelling during a script stage stops its process group, cleans up and ends as cancelled', async () => {
    const buildId = `script-cancel-${process.pid}`;
    const workflowId = workflowIdOf(buildId);
    const started = await startRun(server, TASK_QUEUE, workflowId, {
      profile: 'sim',
      buildId,
      stages: SERVERS_ONLY,
      scripts: [`${FIXTURES}/run-sleeper.sh`],
    });
    assert.equal(started.exitCode, 0, started.all);
    const pidsFile = path.join(resultsDirOf(buildId), 'sleeper', 'pids');
    await waitFor('the script started its children', () => existsSync(pidsFile), { withinMs: 120_000 });
    const pids = (await readFile(pidsFile, 'utf8')).trim().split(' ').map(Number);
    assert.equal(pids.length, 3);
    assert.ok(
      pids.every((pid) => !processEnded(pid)),
      'the script and its children run',
    );
    assert.equal((await leftoverContainers(workflowId)).length, 3, 'the servers are up while the script runs');

    const cancelled = await server.cli(['workflow', 'cancel', '--workflow-id', workflowId]);
    assert.equal(cancelled.exitCode, 0, cancelled.all);
    await server.cli(['workflow', 'result', '--workflow-id', workflowId]);
    const described = await server.cli(['workflow', 'describe', '--workflow-id', workflowId, '--output', 'json']);
    assert.match(described.all ?? '', /WORKFLOW_EXECUTION_STATUS_CANCELED/);
    for (const pid of pids) assert.ok(processEnded(pid), `process ${pid} of the script's group still runs`);
    const report = await readReport(resultsDirOf(buildId));
    assert.equal(stage(report, 'sleeper')!.status, 'cancelled');
    assert.equal(stage(report, 'cleanup')!.status, 'passed');
    assert.deepEqual(await leftoverContainers(workflowId), []);
  });
});
