import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { pickSamplesFile, samplesFilePattern, verifyLmEvalSamples } from '../../src/verification/lm-eval.js';
import type { Check } from '../../src/report/types.js';

const FIXTURES = new URL('../../../test/fixtures/lm_eval/', import.meta.url);

/** A real samples file of each run: lm_eval 0.4.13, task gsm8k_sim, --limit 4, model "sim/model". */
function run(name: 'first_run' | 'second_run'): { path: string; text: string } {
  const dir = new URL(`${name}/sim__model/`, FIXTURES);
  const file = readdirSync(dir).find((f) => f.startsWith('samples_'))!;
  return { path: `${name}/sim__model/${file}`, text: readFileSync(new URL(file, dir), 'utf8') };
}

function byName(checks: Check[], name: string): Check {
  const check = checks.find((c) => c.name === name);
  assert.ok(check, `no check named ${name}`);
  return check;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** The second run with one sample's model response changed, as a cache that corrupts a hit would. */
function withChangedResponse(text: string, docId: number, filter: string): string {
  return lines(text)
    .map((line) => {
      const sample = JSON.parse(line);
      if (sample.doc_id !== docId || sample.filter !== filter) return line;
      sample.resps = [[' Let me think step by step.\nThe result is 12.\n#### 12\n\n']];
      sample.filtered_resps = ['12'];
      return JSON.stringify(sample);
    })
    .join('\n');
}

describe('samplesFilePattern', () => {
  it('matches lm_eval sample file names with and without microseconds', () => {
    const pattern = samplesFilePattern('gsm8k');
    assert.equal(pattern.exec('samples_gsm8k_2026-11-28T01-32-02.666477.jsonl')?.[1], '2026-11-28T01-32-02.666477');
    assert.ok(pattern.test('samples_gsm8k_2026-11-28T01-32-02.jsonl'));
  });

  it('does not take another task whose name extends this one, nor the results file', () => {
    const pattern = samplesFilePattern('gsm8k');
    assert.ok(!pattern.test('samples_gsm8k_sim_2026-11-28T01-32-02.666477.jsonl'));
    assert.ok(!pattern.test('results_2026-11-28T01-32-02.666477.json'));
    assert.ok(samplesFilePattern('gsm8k_sim').test('samples_gsm8k_sim_2026-11-28T01-32-02.666477.jsonl'));
  });

  it('treats regex characters in the task name literally', () => {
    assert.ok(!samplesFilePattern('a.b').test('samples_aXb_2026-11-28T01-32-02.jsonl'));
    assert.ok(samplesFilePattern('a.b').test('samples_a.b_2026-11-28T01-32-02.jsonl'));
  });
});

describe('pickSamplesFile', () => {
  it('finds the samples file in a real run directory listing', () => {
    const listing = readdirSync(new URL('first_run/sim__model/', FIXTURES)).map((f) => `sim__model/${f}`);
    assert.match(pickSamplesFile(listing, 'gsm8k_sim')!, /^sim__model\/samples_gsm8k_sim_.*\.jsonl$/);
  });

  it('picks the newest of several runs and ignores other files and tasks', () => {
    const listing = [
      'Qwen__Qwen3-14B/results_2026-11-28T03-00-00.000001.json',
      'Qwen__Qwen3-14B/samples_gsm8k_2026-11-28T01-59-59.999999.jsonl',
      'Qwen__Qwen3-14B/samples_gsm8k_2026-11-28T02-00-00.jsonl',
      'Qwen__Qwen3-14B/samples_gsm8k_sim_2026-11-28T09-00-00.jsonl',
      'Qwen__Qwen3-14B/samples_gsm8k_2026-11-28T02-00-00.5.jsonl',
    ];
    assert.equal(pickSamplesFile(listing, 'gsm8k'), 'Qwen__Qwen3-14B/samples_gsm8k_2026-11-28T02-00-00.5.jsonl');
  });

  it('returns undefined when no samples file of the task exists', () => {
    assert.equal(pickSamplesFile([], 'gsm8k'), undefined);
    assert.equal(
      pickSamplesFile(['m/results_2026-11-28T02-00-00.json', 'm/samples_mmlu_2026-11-28T02-00-00.jsonl'], 'gsm8k'),
      undefined,
    );
  });
});

describe('verifyLmEvalSamples', () => {
  it('passes two real runs that logged the same samples', () => {
    const checks = verifyLmEvalSamples(run('first_run'), run('second_run'));
    assert.deepEqual(
      checks.map((c) => c.name),
      ['lm_eval.samples_identical', 'lm_eval.sample_count'],
    );
    assert.ok(
      checks.every((c) => c.passed),
      JSON.stringify(checks),
    );
    assert.equal(byName(checks, 'lm_eval.samples_identical').value, 0);
    assert.equal(byName(checks, 'lm_eval.sample_count').value, 8);
  });

  it('passes when the lines are in another order and trailing lines are blank', () => {
    const second = run('second_run');
    const shuffled = `${lines(second.text).reverse().join('\n')}\n\n\n`;
    const checks = verifyLmEvalSamples(run('first_run'), { ...second, text: shuffled });
    assert.ok(
      checks.every((c) => c.passed),
      JSON.stringify(checks),
    );
  });

  it('fails when one sample differs and names it by doc_id, filter and field', () => {
    const second = run('second_run');
    const checks = verifyLmEvalSamples(run('first_run'), {
      ...second,
      text: withChangedResponse(second.text, 2, 'strict-match'),
    });
    const identical = byName(checks, 'lm_eval.samples_identical');
    assert.equal(identical.passed, false);
    assert.equal(identical.value, 1);
    assert.equal(identical.limit, 0);
    assert.match(identical.detail!, /doc_id 2 \(filter strict-match\)/);
    assert.match(identical.detail!, /resps and filtered_resps differ/);
    assert.match(identical.detail!, /80/);
    assert.match(identical.detail!, /12/);
    assert.equal(byName(checks, 'lm_eval.sample_count').passed, true);
  });

  it('names the lowest differing doc_id first when several differ', () => {
    const second = run('second_run');
    const text = withChangedResponse(withChangedResponse(second.text, 3, 'flexible-extract'), 1, 'strict-match');
    const identical = byName(verifyLmEvalSamples(run('first_run'), { ...second, text }), 'lm_eval.samples_identical');
    assert.equal(identical.value, 2);
    assert.match(identical.detail!, /the first is doc_id 1 \(filter strict-match\)/);
  });

  it('fails when a sample is logged by one run only', () => {
    const second = run('second_run');
    const dropped = lines(second.text).filter(
      (l) => !(JSON.parse(l).doc_id === 0 && JSON.parse(l).filter === 'flexible-extract'),
    );
    const checks = verifyLmEvalSamples(run('first_run'), { ...second, text: dropped.join('\n') });
    const identical = byName(checks, 'lm_eval.samples_identical');
    assert.equal(identical.passed, false);
    assert.match(identical.detail!, /doc_id 0 \(filter flexible-extract\), which appears only in the first run/);
    const count = byName(checks, 'lm_eval.sample_count');
    assert.equal(count.passed, false);
    assert.equal(count.value, 7);
    assert.equal(count.limit, 8);
  });

  it('fails on a line cut off mid-write: its sample is missing from that run', () => {
    const second = run('second_run');
    const cut = lines(second.text);
    cut[cut.length - 1] = cut[cut.length - 1]!.slice(0, 50);
    const identical = byName(
      verifyLmEvalSamples(run('first_run'), { ...second, text: cut.join('\n') }),
      'lm_eval.samples_identical',
    );
    assert.equal(identical.passed, false);
    // The intact sample exists only in the first run; the fragment only in the second.
    assert.equal(identical.value, 2);
    assert.match(identical.detail!, /doc_id 3 \(filter flexible-extract\), which appears only in the first run/);
  });

  it('fails on lines that hold the same sample written differently, and says so', () => {
    const second = run('second_run');
    const reordered = lines(second.text).map((line, i) => {
      if (i !== 0) return line;
      const { doc_id, ...rest } = JSON.parse(line);
      return JSON.stringify({ ...rest, doc_id });
    });
    const identical = byName(
      verifyLmEvalSamples(run('first_run'), { ...second, text: reordered.join('\n') }),
      'lm_eval.samples_identical',
    );
    assert.equal(identical.passed, false);
    assert.match(identical.detail!, /doc_id 0 \(filter strict-match\), whose lines differ only in formatting/);
  });

  it('fails both checks when a run wrote no samples file, naming the run', () => {
    const checks = verifyLmEvalSamples(run('first_run'), undefined);
    assert.ok(checks.every((c) => !c.passed));
    assert.match(byName(checks, 'lm_eval.samples_identical').detail!, /second lm_eval run/);
    assert.equal(byName(checks, 'lm_eval.samples_identical').value, null);
    assert.match(byName(checks, 'lm_eval.sample_count').detail!, /second lm_eval run/);
    const none = verifyLmEvalSamples(undefined, undefined);
    assert.match(byName(none, 'lm_eval.samples_identical').detail!, /either lm_eval run/);
  });

  it('fails rather than passing vacuously when a samples file is empty', () => {
    for (const text of ['', '\n\n']) {
      const checks = verifyLmEvalSamples({ path: 'first_run/m/samples_gsm8k_x.jsonl', text }, run('second_run'));
      assert.ok(
        checks.every((c) => !c.passed),
        JSON.stringify(checks),
      );
      assert.match(
        byName(checks, 'lm_eval.samples_identical').detail!,
        /first run's samples file first_run\/m\/samples_gsm8k_x\.jsonl has no samples/,
      );
      assert.match(byName(checks, 'lm_eval.sample_count').detail!, /first run logged no samples/);
    }
    const both = verifyLmEvalSamples({ path: 'a', text: '' }, { path: 'b', text: '' });
    assert.ok(both.every((c) => !c.passed));
  });
});
