/** Script stages: names from file names, the refused paths (each naming its field), the environment and the check. */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scriptEnvironment } from '../../src/activities/script-stage.js';
import { inputFromEnv } from '../../src/config/env.js';
import { scriptFileProblems } from '../../src/config/input-files.js';
import { InvalidConfigError, resolveConfig } from '../../src/config/schema.js';
import { scriptStageName, scriptStagesOf } from '../../src/config/scripts.js';
import { exitCodeCheck } from '../../src/verification/script.js';
import { PROJECT_ROOT } from '../helpers/temporal.js';

const identity = { workflowId: 'wf-1' };

function problemsOf(input: Record<string, unknown>): string[] {
  try {
    resolveConfig(input, identity);
  } catch (error) {
    assert.ok(error instanceof InvalidConfigError, `expected InvalidConfigError, got ${error}`);
    return error.problems;
  }
  assert.fail('expected the input to be refused');
}

describe('script stage names', () => {
  const cases: Array<[string, string]> = [
    ['run-my-test.sh', 'my_test'],
    ['.buildkite/scripts/multiprocessing-test/run-my-test.sh', 'my_test'],
    ['run_prefix_store.sh', 'prefix_store'],
    ['scripts/Check-KV.Layout.py', 'check_kv_layout'],
    ['smoke', 'smoke'],
    ['run.sh', 'run'],
    ['run-.sh', ''],
  ];
  for (const [script, name] of cases) {
    it(`${script} -> ${JSON.stringify(name)}`, () => assert.equal(scriptStageName(script), name));
  }

  it('pairs each script with its stage name, in the order given', () => {
    assert.deepEqual(scriptStagesOf({ scripts: ['a/run-one.sh', 'b/run-two.sh'] }), [
      { name: 'one', path: 'a/run-one.sh' },
      { name: 'two', path: 'b/run-two.sh' },
    ]);
  });
});

describe('scripts in the configuration', () => {
  it('default to none, with a 60 minute timeout', () => {
    const config = resolveConfig({ lmcacheRepoDir: '/src/LMCache' }, identity);
    assert.deepEqual(config.scripts, []);
    assert.equal(config.scriptTimeoutMinutes, 60);
  });

  it('accept paths inside the checkout, relative or absolute', () => {
    const scripts = ['tests/run-a.sh', '/src/LMCache/tests/run-b.sh'];
    const config = resolveConfig({ lmcacheRepoDir: '/src/LMCache', scripts }, identity);
    assert.deepEqual(config.scripts, ['tests/run-a.sh', '/src/LMCache/tests/run-b.sh']);
  });

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['shell metacharacters', { scripts: ['tests/run-a.sh;id'] }, /^scripts\.0: must be a plain path/],
    ['command substitution', { scripts: ['ok/run-a.sh', '$(id).sh'] }, /^scripts\.1: must be a plain path/],
    ['whitespace', { scripts: ['run a.sh'] }, /^scripts\.0: must be a plain path/],
    ['a home directory', { scripts: ['~/run-a.sh'] }, /^scripts\.0: must be a plain path/],
    ['a ".." segment', { scripts: ['../other/run-a.sh'] }, /^scripts\.0: must not contain "\.\."/],
    ['a ".." segment inside', { scripts: ['tests/../../run-a.sh'] }, /^scripts\.0: must not contain "\.\."/],
    [
      'an absolute path outside the checkout',
      { lmcacheRepoDir: '/src/LMCache', scripts: ['/src/LMCache-other/run-a.sh'] },
      /^scripts\.0: is outside lmcacheRepoDir \(\/src\/LMCache\)/,
    ],
    [
      'a built-in stage name',
      { scripts: ['t/run-lm-eval.sh'] },
      /^scripts\.0: would be stage "lm_eval", which is a built-in stage name/,
    ],
    ['the cleanup stage name', { scripts: ['run-cleanup.sh'] }, /^scripts\.0: would be stage "cleanup", which is a/],
    ['the GPU selection stage name', { scripts: ['select_gpus.sh'] }, /^scripts\.0: would be stage "select_gpus"/],
    ['the container logs directory', { scripts: ['container-logs.sh'] }, /^scripts\.0: would be stage "container_logs/],
    [
      'two scripts with one stage name',
      { scripts: ['a/run-my-test.sh', 'b/run_my_test.sh'] },
      /^scripts\.1: would be stage "my_test", like scripts\.0/,
    ],
    ['a name with nothing left', { scripts: ['run-.sh'] }, /^scripts\.0: leaves no stage name/],
    ['a zero timeout', { scriptTimeoutMinutes: 0 }, /^scriptTimeoutMinutes: /],
  ];
  for (const [what, input, expected] of refused) {
    it(`refuses ${what}, naming the field`, () => {
      const problems = problemsOf(input);
      assert.ok(
        problems.some((problem) => expected.test(problem)),
        `problems were: ${problems.join(' | ')}`,
      );
    });
  }

  it('are read from EXTRA_TESTS (comma-separated) and SCRIPT_TIMEOUT_MINUTES', () => {
    const env = { EXTRA_TESTS: 'tests/run-a.sh, tests/run-b.sh', SCRIPT_TIMEOUT_MINUTES: '5' };
    const input = inputFromEnv(env, new Date(0));
    assert.deepEqual(input.scripts, ['tests/run-a.sh', 'tests/run-b.sh']);
    assert.equal(input.scriptTimeoutMinutes, 5);
  });
});

describe('script files on the node', () => {
  let repo: string;
  let outside: string;

  before(async () => {
    repo = await mkdtemp(path.join(tmpdir(), 'script-stages-repo-'));
    outside = await mkdtemp(path.join(tmpdir(), 'script-stages-outside-'));
    await mkdir(path.join(repo, 'tests', 'a-directory.sh'), { recursive: true });
    await writeFile(path.join(repo, 'tests', 'run-ok.sh'), '#!/bin/bash\n');
    await chmod(path.join(repo, 'tests', 'run-ok.sh'), 0o755);
    await writeFile(path.join(repo, 'tests', 'run-plain.sh'), '#!/bin/bash\n');
    await chmod(path.join(repo, 'tests', 'run-plain.sh'), 0o644);
    await writeFile(path.join(outside, 'run-elsewhere.sh'), '#!/bin/bash\n');
    await chmod(path.join(outside, 'run-elsewhere.sh'), 0o755);
    await symlink(path.join(outside, 'run-elsewhere.sh'), path.join(repo, 'tests', 'run-link.sh'));
  });
  after(async () => {
    await rm(repo, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  const problems = (scripts: string[]) => scriptFileProblems({ lmcacheRepoDir: repo, scripts });

  it('accepts an executable file inside the checkout', async () => {
    assert.deepEqual(await problems(['tests/run-ok.sh', `${repo}/tests/run-ok.sh`]), []);
  });

  it('accepts the fixture scripts under the default checkout (this project)', async () => {
    const scripts = ['test/fixtures/scripts/run-env-check.sh'];
    assert.deepEqual(await scriptFileProblems({ lmcacheRepoDir: '.', scripts }), []);
  });

  const refused: Array<[string, string, RegExp]> = [
    ['a missing file', 'tests/run-missing.sh', /^scripts\.0: .*run-missing\.sh does not exist on this node/],
    ['a file that is not executable', 'tests/run-plain.sh', /^scripts\.0: .*run-plain\.sh is not executable/],
    ['a directory', 'tests/a-directory.sh', /^scripts\.0: .*a-directory\.sh is not a file/],
    ['a symbolic link leading outside the checkout', 'tests/run-link.sh', /^scripts\.0: .*run-link\.sh is outside /],
  ];
  for (const [what, script, expected] of refused) {
    it(`refuses ${what}, naming the field`, async () => {
      const found = await problems([script]);
      assert.equal(found.length, 1);
      assert.match(found[0]!, expected);
    });
  }

  it('refuses an absolute path outside the checkout when the checkout is given relative', async () => {
    const found = await scriptFileProblems({ lmcacheRepoDir: '.', scripts: [path.join(outside, 'run-elsewhere.sh')] });
    assert.match(found[0]!, /^scripts\.0: .* is outside lmcacheRepoDir/);
  });

  it('names each bad script by its index', async () => {
    const found = await problems(['tests/run-ok.sh', 'tests/run-plain.sh', 'tests/run-missing.sh']);
    assert.deepEqual(
      found.map((problem) => problem.split(':')[0]),
      ['scripts.1', 'scripts.2'],
    );
  });

  it('refuses every script when the checkout itself is missing', async () => {
    const found = await scriptFileProblems({ lmcacheRepoDir: path.join(repo, 'nowhere'), scripts: ['run-a.sh'] });
    assert.match(found[0]!, /^scripts\.0: lmcacheRepoDir \(.*nowhere\) does not exist on this node/);
  });
});

describe('a script stage environment', () => {
  it('carries the contract variables and every knob under its environment variable name', () => {
    const config = resolveConfig(
      { profile: 'sim', buildId: 'b1', vllmPort: 8100, numPrompts: 7, stages: ['build', 'launch'], scripts: ['a.sh'] },
      identity,
    );
    const env = scriptEnvironment(config);
    assert.equal(env.RESULTS_DIR, '/tmp/lmcache_ci_results_b1');
    assert.equal(env.BUILD_ID, 'b1');
    // Relative paths are resolved: the script runs in the checkout, not in this project.
    assert.equal(env.VENV_DIR, path.join(PROJECT_ROOT, '.venv'));
    assert.equal(env.LMCACHE_REPO_DIR, PROJECT_ROOT.replace(/\/$/, ''));
    assert.equal(env.MODEL, 'sim/greedy-echo');
    assert.equal(env.VLLM_PORT, '8100');
    assert.equal(env.VLLM_BASELINE_PORT, '9000');
    assert.equal(env.LMCACHE_PORT, '6555');
    assert.equal(env.NUM_PROMPTS, '7');
    assert.equal(env.STAGES, 'build,launch');
    assert.equal(env.EXTRA_TESTS, 'a.sh');
    assert.equal(env.SCRIPT_TIMEOUT_MINUTES, '60');
    assert.equal(env.PROFILE, 'sim');
  });

  it('carries the build arguments of the gpu profile', () => {
    const env = scriptEnvironment(resolveConfig({ lmcacheRepoDir: '/src/LMCache' }, identity));
    assert.equal(env.CUDA_VERSION, '12.8');
    assert.equal(env.VLLM_VERSION, 'nightly');
  });
});

describe('a script stage check', () => {
  const end = {
    timedOut: false,
    tail: ['=== My Test ===', '✅ Test passed'],
    logFile: '/r/my_test/my_test.log',
    timeoutMinutes: 60,
  };

  it('passes on exit 0, with the last lines', () => {
    const check = exitCodeCheck('my_test', { ...end, exitCode: 0 });
    assert.deepEqual([check.name, check.passed, check.value, check.limit], ['my_test.exit_code', true, 0, 0]);
    assert.equal(
      check.detail,
      'exited with 0; last lines: "=== My Test ===" "✅ Test passed"; full output in /r/my_test/my_test.log',
    );
  });

  it('fails on any other exit code, with the code as its value', () => {
    const check = exitCodeCheck('my_test', { ...end, exitCode: 3, tail: ['a', 'b', 'c', '❌ failed'] });
    assert.deepEqual([check.passed, check.value, check.limit], [false, 3, 0]);
    assert.match(check.detail!, /^exited with 3; last lines: "b" "c" "❌ failed";/);
  });

  it('fails when a signal ended it, naming the signal', () => {
    const check = exitCodeCheck('my_test', { ...end, signal: 'SIGKILL', tail: [] });
    assert.deepEqual([check.passed, check.value], [false, 'SIGKILL']);
    assert.match(check.detail!, /^ended by SIGKILL; last lines: \(no output\);/);
  });

  it('fails when it ran out of time, even if it then exited 0', () => {
    const check = exitCodeCheck('my_test', { ...end, exitCode: 0, timedOut: true, timeoutMinutes: 2 });
    assert.equal(check.passed, false);
    assert.match(check.detail!, /^killed after SCRIPT_TIMEOUT_MINUTES=2;/);
  });
});
