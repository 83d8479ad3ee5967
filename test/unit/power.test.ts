import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Check } from '../../src/report/types.js';
import { ratioFigure, summarize } from '../../src/verification/grey-zone.js';
import { judgeTrial, powerLines } from '../../src/verification/power.js';

const RULE = { greyZonePercent: 2, maxRepeats: 4 };
const check = (name: string, passed: boolean, extra: Partial<Check> = {}): Check => ({
  name,
  passed,
  value: 1,
  limit: 1,
  ...extra,
});

describe('judgeTrial', () => {
  it('reads the single rule from the first sample and the grey rule from the median, on the same trial', () => {
    const samples = summarize(ratioFigure(95, RULE), [94, 96, 95.5], ['r1', 'r2'], [10, 4, 5], 1);
    const verdict = judgeTrial([
      {
        checks: [check('vllm_bench.throughput', true, { samples }), check('vllm_bench.lmcache_stored', true)],
        seconds: 25,
      },
      { checks: [check('long_doc_qa.query_ttft_per_prompt', true)], seconds: 8 },
    ]);
    assert.deepEqual(verdict, {
      singleFailed: true,
      greyFailed: false,
      singleSeconds: 24,
      greySeconds: 33,
      otherFailures: [],
    });
  });

  it('counts a stage whose two figures share their repeats once, and names other failed checks apart', () => {
    const figure = ratioFigure(95, RULE);
    const samples = summarize(figure, [96, 99], ['r1'], [6, 3], 1);
    const verdict = judgeTrial([
      {
        checks: [
          check('long_doc_qa.query_ttft_per_prompt', true, { samples }),
          check('long_doc_qa.query_round_time_per_prompt', true, { samples }),
          check('long_doc_qa.lmcache_served', false),
        ],
        seconds: 9,
      },
    ]);
    assert.equal(verdict.singleSeconds, 6);
    assert.equal(verdict.singleFailed, false);
    assert.deepEqual(verdict.otherFailures, ['long_doc_qa.lmcache_served']);
  });
});

describe('powerLines', () => {
  it('gives each rule its failures, rate and mean cost over the same trials', () => {
    const trial = (singleFailed: boolean, greyFailed: boolean, greySeconds: number) => ({
      singleFailed,
      greyFailed,
      singleSeconds: 10,
      greySeconds,
      otherFailures: [],
    });
    const lines = powerLines(3, 'none', [
      trial(true, false, 30),
      trial(false, false, 10),
      trial(true, true, 20),
      trial(false, false, 10),
    ]);
    assert.deepEqual(lines, [
      { rule: 'single', noisePercent: 3, defect: 'none', trials: 4, failed: 2, rate: 0.5, meanSecondsPerVerdict: 10 },
      { rule: 'grey', noisePercent: 3, defect: 'none', trials: 4, failed: 1, rate: 0.25, meanSecondsPerVerdict: 17.5 },
    ]);
  });
});
