/** The grey zone's checks (median-decided) and how report.md and JUnit show their samples. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyFigures } from '../../src/history/figures.js';
import { renderJUnit } from '../../src/report/junit.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { stripChart } from '../../src/report/strip-chart.js';
import type { RunReport } from '../../src/report/types.js';
import { ratioFigure } from '../../src/verification/grey-zone.js';
import { medianLatencyChecks, type LongDocQaResult } from '../../src/verification/long-doc-qa.js';
import { medianThroughputCheck, type BenchRuns } from '../../src/verification/vllm-bench.js';

const RULE = { greyZonePercent: 2, maxRepeats: 4 };
const pair = (baseline: number, lmcache: number): BenchRuns => ({
  baseline: {
    result: { completed: 8, total_input_tokens: 8000, total_token_throughput: baseline },
    chatFrameTokens: 3,
  },
  lmcache: { result: { completed: 8, total_input_tokens: 8000, total_token_throughput: lmcache }, chatFrameTokens: 3 },
});
const queryRound = (ttft: number, round: number): LongDocQaResult => ({
  query_ttft_per_prompt: ttft,
  query_round_time_per_prompt: round,
  warmup_round_time_per_prompt: 1,
});

describe('median-decided checks', () => {
  const reasons = ['first ratio 94.5 %, within 2 points of the 95 % limit', 'median ratio of 2 95.5 %, within …'];

  it('throughput: a first ratio below the limit passes on the median, with history still reading the ratio', () => {
    const check = medianThroughputCheck(
      [pair(1000, 945), pair(1100, 1067), pair(1000, 990)],
      ratioFigure(95, RULE),
      reasons,
      [6, 5, 5],
      3,
    );
    assert.equal(check.passed, true);
    assert.equal(check.samples?.firstPassed, false);
    assert.deepEqual(
      check.samples?.values.map((v) => Number(v.toFixed(2))),
      [94.5, 97, 99],
    );
    assert.match(check.detail!, /median throughput ratio is 97 % of the baseline's \(at or above the 95 % limit/);
    assert.match(check.detail!, /3 samples of the ratio \(94\.5, 97, 99 %\): median 97 %, 90 % interval/);
    assert.match(check.detail!, /repeated because first ratio 94\.5 %/);
    // value and limit in tok/s against the median baseline (1000), as keyFigures reads them.
    assert.ok(Math.abs(keyFigures([check], 5).throughputRatio! - 0.97) < 1e-9);
  });

  it('throughput: a median below the limit fails even when the first ratio passed', () => {
    const check = medianThroughputCheck(
      [pair(1000, 960), pair(1000, 930), pair(1000, 940)],
      ratioFigure(95, RULE),
      reasons,
      [6, 5, 5],
      3,
    );
    assert.deepEqual([check.passed, check.samples?.firstPassed], [false, true]);
  });

  it('latencies: each decided by its own median', () => {
    const checks = medianLatencyChecks(
      [queryRound(0.203, 0.1), queryRound(0.19, 0.1), queryRound(0.195, 0.1)],
      { maxTtft: 0.2, maxQueryRoundTime: 0.3 },
      RULE,
      { reasons: ['first query TTFT 0.203 s, within 2 % (0.004 s) of the 0.2 s limit'], seconds: [9, 2, 2], seed: 5 },
    );
    assert.deepEqual(
      checks.map((check) => [check.name, check.passed, check.value, check.samples?.firstPassed]),
      [
        ['long_doc_qa.query_ttft_per_prompt', true, 0.195, false],
        ['long_doc_qa.query_round_time_per_prompt', true, 0.1, true],
      ],
    );
  });
});

describe('samples in the report', () => {
  const check = medianThroughputCheck(
    [pair(1000, 945), pair(1000, 970), pair(1000, 990)],
    ratioFigure(95, RULE),
    ['first ratio 94.5 %, within 2 points of the 95 % limit', 'median ratio of 2 95.75 %, within 2 points'],
    [6, 5, 5],
    3,
  );
  const report: RunReport = {
    workflowId: 'w',
    runId: 'r',
    buildId: 'b',
    profile: 'sim',
    model: 'sim/greedy-echo',
    passed: true,
    resultsDir: '/tmp/x',
    stages: [{ name: 'vllm_bench', status: 'passed', durationMs: 16_000 }],
    checks: [check],
  };

  it('strip chart: every sample, the median, the interval and the limit on one axis', () => {
    const [legend, marks, axis] = stripChart(check.samples!);
    assert.match(legend, /▲ median 97 %/);
    assert.match(legend, /│ limit 95 %/);
    assert.equal((marks.match(/●/g) ?? []).length, 2, 'two samples, the third under the median mark');
    assert.equal((marks.match(/▲/g) ?? []).length, 1);
    assert.ok(axis.includes('│') && axis.includes('═'));
    assert.ok(marks.indexOf('▲') - 9 > axis.indexOf('│') - 9, 'the median is right of the limit');
  });

  it('report.md shows the chart below the checks', () => {
    const md = renderMarkdown(report);
    assert.match(md, /Samples of `vllm_bench\.throughput` \(grey zone\):\n\n```text\nratio: /);
  });

  it('JUnit carries the samples as properties', () => {
    const xml = renderJUnit(report);
    assert.match(xml, /<property name="samples\.vllm_bench\.throughput\.values" value="94\.5,97,99"\/>/);
    assert.match(xml, /<property name="samples\.vllm_bench\.throughput\.median" value="97"\/>/);
    assert.match(xml, /<property name="samples\.vllm_bench\.throughput\.first_sample_passed" value="false"\/>/);
    assert.match(
      xml,
      /name="samples\.vllm_bench\.throughput\.reasons" value="first ratio 94\.5 %, within 2 points of the 95 % limit \| median/,
    );
  });
});
