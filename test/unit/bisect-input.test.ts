/** The bisect's input: its schema, the CLI's arguments and environment, and the command `history` suggests. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bisectInput } from '../../src/client/bisect-input.js';
import { resolveBisectInput, BISECT_DEFAULTS } from '../../src/config/bisect-input.js';
import { InvalidConfigError } from '../../src/config/schema.js';
import { bisectCommand } from '../../src/history/bisect-suggestion.js';
import { analyseRuns } from '../../src/history/trends.js';
import { runRecord } from '../helpers/runs.js';

const problems = (run: () => unknown): string[] => {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof InvalidConfigError, String(error));
    return error.problems;
  }
  assert.fail('expected InvalidConfigError');
};

describe('resolveBisectInput', () => {
  it('fills the defaults and keeps the probes’ configuration as given', () => {
    const settings = resolveBisectInput({
      good: 'v1',
      bad: 'main',
      predicate: { check: 'vllm_bench.throughput' },
      config: { profile: 'sim' },
    });
    assert.deepEqual(
      { ...settings, parallelProbes: settings.parallelProbes },
      {
        good: 'v1',
        bad: 'main',
        predicate: { check: 'vllm_bench.throughput' },
        config: { profile: 'sim' },
        parallelProbes: undefined,
        ...BISECT_DEFAULTS,
      },
    );
  });

  it('names each bad field', () => {
    const found = problems(() =>
      resolveBisectInput({
        good: '',
        bad: '--all',
        predicate: { figure: 'speed', op: '>', limit: 1 },
        parallelProbes: 0,
      }),
    );
    assert.equal(found.length, 4, found.join('\n'));
    assert.match(found.join('\n'), /^good: /m);
    assert.match(found.join('\n'), /^bad: must not start with "-"/m);
    assert.match(found.join('\n'), /^predicate/m);
    assert.match(found.join('\n'), /^parallelProbes: /m);
  });
});

describe('cli.js bisect-input', () => {
  const env = { PROFILE: 'sim' };

  it('reads the predicate from --check or --figure and the knobs from BISECT_*', () => {
    const input = bisectInput(
      { good: 'a1', bad: 'b2', figure: 'queryTtft>0.15' },
      { ...env, BISECT_PARALLEL_PROBES: '3', BISECT_REPEATS: '5' },
      'bisect-1',
    );
    assert.deepEqual(input.predicate, { figure: 'queryTtft', op: '>', limit: 0.15 });
    assert.equal(input.parallelProbes, 3);
    assert.equal(input.repeats, 5);
    assert.equal(input.config.profile, 'sim');
  });

  it('refuses missing ends, both or neither predicate, and names a bad BISECT_* variable', () => {
    assert.match(problems(() => bisectInput({ check: 'x.y' }, env, 'b')).join('\n'), /GOOD .*\n.*BAD/);
    assert.match(problems(() => bisectInput({ good: 'a', bad: 'b' }, env, 'b'))[0]!, /exactly one of --check/);
    assert.match(
      problems(() => bisectInput({ good: 'a', bad: 'b', check: 'x.y', figure: 'queryTtft>1' }, env, 'b'))[0]!,
      /exactly one/,
    );
    assert.match(
      problems(() =>
        bisectInput({ good: 'a', bad: 'b', check: 'x.y' }, { ...env, BISECT_MAX_PROBES: 'many' }, 'b'),
      )[0]!,
      /BISECT_MAX_PROBES="many" must be a number/,
    );
    assert.match(
      problems(() =>
        bisectInput({ good: 'a', bad: 'b', check: 'x.y' }, { ...env, BISECT_PARALLEL_PROBES: '0' }, 'b'),
      )[0]!,
      /^BISECT_PARALLEL_PROBES: /,
    );
  });
});

describe('history’s bisect suggestion', () => {
  const shaOf = (i: number) => String(i).repeat(40);

  it('a regressed figure: between the last passing commit and the newest, past the margin over the median', () => {
    const runs = [1, 2, 3].map((i) => runRecord(i, 'passed', { queryTtft: 0.1 }, { commit: shaOf(i) }));
    runs.push(runRecord(4, 'passed', { queryTtft: 0.2 }, { commit: shaOf(4) }));
    const [group] = analyseRuns(runs, 10);
    assert.equal(bisectCommand(group!, 10), `scripts/bisect.sh ${shaOf(3)} ${shaOf(4)} --figure 'queryTtft>0.11'`);
  });

  it('a failed check: --check with the first failed check; nothing without commits', () => {
    const runs = [
      runRecord(1, 'passed', { queryTtft: 0.1 }, { commit: shaOf(1) }),
      runRecord(2, 'failed', { queryTtft: 0.1 }, { commit: shaOf(2), failedChecks: ['lm_eval.samples_identical'] }),
    ];
    assert.equal(
      bisectCommand(analyseRuns(runs, 10)[0]!, 10),
      `scripts/bisect.sh ${shaOf(1)} ${shaOf(2)} --check lm_eval.samples_identical`,
    );
    const noCommits = runs.map(({ commit: _commit, ...run }) => run);
    assert.equal(bisectCommand(analyseRuns(noCommits, 10)[0]!, 10), undefined);
  });
});
