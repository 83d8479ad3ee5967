/**
 * The short CI version of scripts/check-power.sh: a few trials of each condition, through the script as people run
 * it. Asserts only what holds for any noise: every line is printed, with sane counts and rates in [0, 1], and the
 * servers it launched are gone. The rates themselves are the 30-trial run's business (README).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { containersOf } from '../../src/docker/containers.js';
import { PROJECT_ROOT } from '../helpers/temporal.js';

const TRIALS = 3;

describe('scripts/check-power.sh, short', { timeout: 300_000 }, () => {
  it('prints one line per rule and condition, rates between 0 and 1, and leaves no server behind', async () => {
    const run = await execa('scripts/check-power.sh', [], {
      cwd: PROJECT_ROOT,
      // A lighter workload than the script's own: the suite's budget is about three minutes.
      env: { TRIALS: String(TRIALS), SKIP_BUILD: '1', NUM_PROMPTS: '4', NUM_DOCUMENTS: '2' },
      reject: false,
    });
    assert.equal(run.exitCode, 0, run.stderr.slice(-3000));
    const lines = run.stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((line) => [line.rule, line.defect]),
      [
        ['single', 'none'],
        ['grey', 'none'],
        ['single', 'slow-store:8'],
        ['grey', 'slow-store:8'],
      ],
    );
    for (const line of lines) {
      assert.equal(line.noisePercent, 3);
      assert.equal(line.trials, TRIALS);
      const { failed, rate, meanSecondsPerVerdict } = line as {
        failed: number;
        rate: number;
        meanSecondsPerVerdict: number;
      };
      assert.ok(Number.isInteger(failed) && failed >= 0 && failed <= TRIALS, JSON.stringify(line));
      assert.ok(rate >= 0 && rate <= 1 && rate === failed / TRIALS, JSON.stringify(line));
      assert.ok(meanSecondsPerVerdict > 0, JSON.stringify(line));
    }
    assert.equal(
      run.stderr.match(/^check-power: .* trial \d+\/3: single (pass|FAIL), grey (pass|FAIL)/gm)?.length,
      2 * TRIALS,
    );
    // Each condition's trials are kept with their figures, so another rule can be judged on the same samples.
    const trialFiles = [...run.stderr.matchAll(/^check-power: (\S+): every trial's figures are in (\S+)$/gm)];
    assert.deepEqual(
      trialFiles.map((match) => match[1]),
      ['none', 'slow-store:8'],
    );
    for (const [, defect, file] of trialFiles) {
      const trials = (await readFile(file, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { defect: string; trial: number; checks: Array<{ name: string }> });
      assert.deepEqual(
        trials.map((trial) => [trial.defect, trial.trial]),
        Array.from({ length: TRIALS }, (_, index) => [defect, index + 1]),
      );
      for (const trial of trials) assert.ok(trial.checks.some((check) => check.name === 'vllm_bench.throughput'));
    }
    const left = (await containersOf()).filter((container) => container.workflowId.startsWith(`check-power-`));
    assert.deepEqual(
      left.map((container) => container.name),
      [],
    );
  });
});
