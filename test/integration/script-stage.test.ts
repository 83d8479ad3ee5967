/**
 * The script stage activity with real scripts in a scratch checkout: the suite's environment, the exit code
 * check, and that nothing the script started outlives the stage (exit, timeout, cancellation). The Docker
 * engine is asked whether the run's servers are still up, as in a real run (this run has none).
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, unlink, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { BenchmarkOutcome } from '../../src/activities/benchmark.js';
import { runScriptStage } from '../../src/activities/script-stage.js';
import { resolveConfig, type Config, type ConfigInput } from '../../src/config/schema.js';
import { scriptStagesOf } from '../../src/config/scripts.js';
import { FailureType } from '../../src/failures.js';
import type { Check } from '../../src/report/types.js';

/** Gone, or a zombie: dead and only waiting for init to reap it. */
function processEnded(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return true;
  try {
    return readFileSync(stat, 'utf8')
      .replace(/^.*\) /, '')
      .startsWith('Z');
  } catch {
    return true;
  }
}

async function waitForFile(file: string): Promise<string> {
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return readFile(file, 'utf8');
}

describe('script stage activity', { timeout: 120_000 }, () => {
  let repo: string;
  let resultsDir: string;
  const workflowId = `it-script-${process.pid}`;

  const script = async (name: string, body: string) => {
    const file = path.join(repo, 'tests', name);
    await writeFile(file, `#!/bin/bash\n${body}\n`);
    await chmod(file, 0o755);
    return `tests/${name}`;
  };
  const config = (scripts: string[], overrides: ConfigInput = {}) =>
    resolveConfig(
      { profile: 'sim', buildId: 'it', lmcacheRepoDir: repo, resultsDir, scripts, ...overrides },
      { workflowId },
    );
  const runResolved = (env: MockActivityEnvironment, resolved: Config): Promise<BenchmarkOutcome> =>
    env.run(runScriptStage, { config: resolved, workflowId, stage: scriptStagesOf(resolved)[0]! });
  const run = (env: MockActivityEnvironment, scripts: string[], overrides: ConfigInput = {}) =>
    runResolved(env, config(scripts, overrides));
  /** The failed checks of a stage's outcome: checks are data, the stage itself completes. */
  const failedChecksOf = async (promise: Promise<BenchmarkOutcome>): Promise<Check[]> => {
    const failed = (await promise).checks.filter((check) => !check.passed);
    assert.ok(failed.length > 0, 'expected the stage to fail its check');
    return failed;
  };

  before(async () => {
    repo = await mkdtemp(path.join(tmpdir(), 'script-stage-repo-'));
    resultsDir = await mkdtemp(path.join(tmpdir(), 'script-stage-results-'));
    await mkdir(path.join(repo, 'tests'));
  });
  after(async () => {
    await rm(repo, { recursive: true, force: true });
    await rm(resultsDir, { recursive: true, force: true });
  });

  it('runs in the checkout with the suite environment, keeps its output, and passes on exit 0', async () => {
    const path_ = await script(
      'run-my-test.sh',
      [
        'set -eu',
        'mkdir -p "$RESULTS_DIR/my_test"',
        'echo "$BUILD_ID $MODEL $VLLM_PORT $VENV_DIR $(pwd)" >"$RESULTS_DIR/my_test/seen.txt"',
        'echo "✅ Test passed"',
      ].join('\n'),
    );
    const env = new MockActivityEnvironment();
    const heartbeats: Array<{ lastLines?: string[] }> = [];
    env.on('heartbeat', (details) => heartbeats.push(details));
    const outcome = await run(env, [path_]);
    const checks = outcome.checks.map((c) => [c.name, c.passed, c.value, c.limit]);
    assert.deepEqual(checks, [['my_test.exit_code', true, 0, 0]]);
    const seen = (await readFile(path.join(resultsDir, 'my_test', 'seen.txt'), 'utf8')).trim().split(' ');
    assert.deepEqual(seen.slice(0, 3), ['it', 'sim/greedy-echo', '8000']);
    assert.ok(path.isAbsolute(seen[3]!) && seen[3]!.endsWith('/.venv'), seen[3]);
    assert.equal(seen[4], await realpath(repo));
    assert.match(await readFile(path.join(resultsDir, 'my_test', 'my_test.log'), 'utf8'), /✅ Test passed/);
    assert.ok(
      heartbeats.some((h) => h.lastLines?.includes('✅ Test passed')),
      JSON.stringify(heartbeats),
    );
  });

  it('fails its check with the exit code and the last lines on any other exit', async () => {
    const path_ = await script('run-exit-three.sh', 'echo "❌ nope"\nexit 3');
    const checks = await failedChecksOf(run(new MockActivityEnvironment(), [path_]));
    assert.deepEqual(
      checks.map((c) => [c.name, c.passed, c.value]),
      [['exit_three.exit_code', false, 3]],
    );
    assert.match(checks[0]!.detail!, /exited with 3; last lines: "❌ nope"/);
  });

  it('ends what the script left running in the background when it exits', async () => {
    const path_ = await script(
      'run-leaves-child.sh',
      'sleep 600 &\nmkdir -p "$RESULTS_DIR/leaves_child"\necho $! >"$RESULTS_DIR/leaves_child/pid"\nexit 0',
    );
    const outcome = await run(new MockActivityEnvironment(), [path_]);
    assert.equal(outcome.checks[0]!.passed, true);
    const pid = Number(await readFile(path.join(resultsDir, 'leaves_child', 'pid'), 'utf8'));
    assert.ok(processEnded(pid), `background child ${pid} still runs`);
  });

  /** Two children, all three process ids kept in the stage's directory, then waits until stopped. */
  const sleeper = (stage: string) =>
    [
      `mkdir -p "$RESULTS_DIR/${stage}"`,
      'sleep 600 &',
      'first=$!',
      'sleep 600 &',
      `echo "$$ $first $!" >"$RESULTS_DIR/${stage}/pids"`,
      'echo sleeping',
      'wait',
    ].join('\n');

  it('kills the whole process group when the script runs past SCRIPT_TIMEOUT_MINUTES; its check fails', async () => {
    const path_ = await script('run-too-slow.sh', sleeper('too_slow'));
    const checks = await failedChecksOf(run(new MockActivityEnvironment(), [path_], { scriptTimeoutMinutes: 0.02 }));
    assert.deepEqual(
      checks.map((c) => [c.name, c.passed, c.value]),
      [['too_slow.exit_code', false, 'SIGTERM']],
    );
    assert.match(checks[0]!.detail!, /^killed after SCRIPT_TIMEOUT_MINUTES=0\.02; last lines: "sleeping"/);
    const pids = (await readFile(path.join(resultsDir, 'too_slow', 'pids'), 'utf8')).trim().split(' ').map(Number);
    assert.equal(pids.length, 3);
    for (const pid of pids) assert.ok(processEnded(pid), `process ${pid} still runs`);
  });

  it('kills the whole process group when the stage is cancelled', async () => {
    const path_ = await script('run-cancelled.sh', sleeper('cancelled'));
    const env = new MockActivityEnvironment();
    const stage = run(env, [path_]);
    const pids = (await waitForFile(path.join(resultsDir, 'cancelled', 'pids'))).trim().split(' ').map(Number);
    env.cancel();
    await assert.rejects(stage, (error) => error instanceof CancelledFailure);
    for (const pid of pids) assert.ok(processEnded(pid), `process ${pid} still runs`);
  });

  it('refuses a script that went missing after the run started, as bad input', async () => {
    const path_ = await script('run-vanishing.sh', 'exit 0');
    const resolved = config([path_]);
    await unlink(path.join(repo, path_));
    await assert.rejects(runResolved(new MockActivityEnvironment(), resolved), (error) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, FailureType.InvalidConfig);
      assert.match(error.message, /scripts\.0: .*does not exist/);
      return true;
    });
  });
});
