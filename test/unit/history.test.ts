/** Run history, pure parts: key figures, search attribute values, regression detection, rendering, queries. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FIGURES, keyFigures } from '../../src/history/figures.js';
import { renderHistory } from '../../src/history/render.js';
import { lineChartSvg } from '../../src/history/svg-chart.js';
import { analyseRuns, compareFigures, median, worsePercent } from '../../src/history/trends.js';
import { runsQuery, verdictOf } from '../../src/history/visibility.js';
import { compareWithHistory, renderHistorySection } from '../../src/report/history-section.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import type { Check, RunReport, StageReport } from '../../src/report/types.js';
import { figuresLine, staticSummary } from '../../src/workflows/run-summary.js';
import {
  BISECT_ATTRIBUTE_KEYS,
  runVerdict,
  SA,
  searchAttributeUpdates,
  type RunState,
} from '../../src/workflows/search-attributes.js';
import { runRecord } from '../helpers/runs.js';

const spec = (id: string) => FIGURES.find((f) => f.id === id)!;
const check = (name: string, value: number | null, limit: number | null, passed = true): Check => ({
  name,
  value,
  limit,
  passed,
});

describe('keyFigures', () => {
  it('reads LMCache TTFT and round time, and throughput ÷ the baseline recovered from the limit', () => {
    const figures = keyFigures(
      [
        check('long_doc_qa.query_ttft_per_prompt', 0.021, 0.1),
        check('long_doc_qa.query_round_time_per_prompt', 0.12, 0.3),
        check('vllm_bench.throughput', 1900, 950 * 2),
      ],
      5,
    );
    assert.deepEqual([figures.queryTtft, figures.queryRoundTime], [0.021, 0.12]);
    assert.ok(Math.abs(figures.throughputRatio! - 0.95) < 1e-12);
  });

  it('is null for what did not run or has no usable baseline', () => {
    assert.deepEqual(keyFigures([], 5), { queryTtft: null, queryRoundTime: null, throughputRatio: null });
    assert.equal(keyFigures([check('vllm_bench.throughput', 10, null, false)], 5).throughputRatio, null);
    assert.equal(keyFigures([check('vllm_bench.throughput', 10, 0)], 100).throughputRatio, null);
  });
});

describe('search attribute values', () => {
  const state = (overrides: Partial<RunState> = {}): RunState => ({
    profile: 'sim',
    model: 'sim/greedy-echo',
    buildId: 'b1',
    stages: [],
    checks: [],
    figures: { queryTtft: null, queryRoundTime: null, throughputRatio: null },
    finished: false,
    cancelled: false,
    ...overrides,
  });
  const failedStage: StageReport = { name: 'health', status: 'failed', durationMs: 1 };

  it('derives the verdict: running until finished, then cancelled, failed or passed', () => {
    assert.equal(runVerdict(state({ stages: [failedStage] })), 'running');
    assert.equal(runVerdict(state({ finished: true })), 'passed');
    assert.equal(runVerdict(state({ finished: true, stages: [failedStage] })), 'failed');
    assert.equal(runVerdict(state({ finished: true, checks: [check('x.y', 1, 0, false)] })), 'failed');
    assert.equal(runVerdict(state({ finished: true, cancelled: true, stages: [failedStage] })), 'cancelled');
  });

  it('sets every attribute, removing the ones without a value', () => {
    const updates = searchAttributeUpdates(
      state({
        finished: true,
        stages: [
          { name: 'build', status: 'passed', durationMs: 1 },
          { name: 'long_doc_qa', status: 'failed', durationMs: 1 },
        ],
        checks: [
          check('long_doc_qa.query_ttft_per_prompt', 0.4, 0.1, false),
          check('long_doc_qa.query_round_time_per_prompt', 0.2, 0.3),
        ],
        figures: { queryTtft: 0.4, queryRoundTime: 0.2, throughputRatio: null },
      }),
    );
    const value = (name: string) => updates.find((u) => u.key.name === name)?.value;
    assert.equal(updates.length, Object.keys(SA).length - BISECT_ATTRIBUTE_KEYS.length - 1, 'all but commit, bisect');
    assert.equal(value('LmcacheMpVerdict'), 'failed');
    assert.equal(value('LmcacheMpFailedStage'), 'long_doc_qa');
    assert.deepEqual(value('LmcacheMpFailedChecks'), ['long_doc_qa.query_ttft_per_prompt']);
    assert.equal(value('LmcacheMpQueryTtft'), 0.4);
    assert.equal(value('LmcacheMpThroughputRatio'), null);
    const clean = searchAttributeUpdates(state());
    assert.equal(clean.find((u) => u.key === SA.failedChecks)?.value, null);
    assert.equal(clean.find((u) => u.key === SA.failedStage)?.value, null);
  });

  it('sets the commit once the build resolved it, and never the bisect attributes', () => {
    const sha = 'a'.repeat(40);
    const updates = searchAttributeUpdates(state({ commit: sha }));
    assert.equal(updates.find((u) => u.key === SA.commit)?.value, sha);
    assert.equal(updates.length, Object.keys(SA).length - BISECT_ATTRIBUTE_KEYS.length);
    for (const key of BISECT_ATTRIBUTE_KEYS) assert.ok(!updates.some((u) => u.key === key), key.name);
  });

  it('summarises a run in one line for the UI', () => {
    assert.equal(
      staticSummary({ profile: 'gpu', model: 'Qwen/Qwen3-14B', buildId: '42' }),
      'LMCache MP test · gpu · Qwen/Qwen3-14B · build 42',
    );
    assert.equal(
      figuresLine({ queryTtft: 0.0213, queryRoundTime: null, throughputRatio: 1.02 }),
      'Query TTFT (LMCache) 0.0213 s · Throughput ratio (LMCache ÷ baseline) 1.02',
    );
  });
});

describe('regression detection', () => {
  it('median of odd and even counts; none of nothing', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.throws(() => median([]));
  });

  it('worse is up for times and down for the throughput ratio', () => {
    assert.equal(worsePercent(spec('queryTtft'), 0.12, 0.1)?.toFixed(6), '20.000000');
    assert.equal(worsePercent(spec('throughputRatio'), 0.9, 1)?.toFixed(6), '10.000000');
    assert.equal(worsePercent(spec('throughputRatio'), 1.1, 1)?.toFixed(6), '-10.000000');
    assert.equal(worsePercent(spec('queryTtft'), 1, 0), null);
  });

  it('flags a figure worse than the median by more than the margin, not at the margin, not when better', () => {
    const previous = [0.1, 0.1, 0.5].map((ttft, i) =>
      runRecord(i, 'passed', { queryTtft: ttft, queryRoundTime: 1, throughputRatio: 1 }),
    );
    const compare = (figures: Parameters<typeof compareFigures>[0]) => compareFigures(figures, previous, 10);
    const flagged = (figures: Parameters<typeof compareFigures>[0]) =>
      compare(figures)
        .filter((c) => c.regression)
        .map((c) => c.figure.id);
    assert.deepEqual(
      flagged({ queryTtft: 0.111, queryRoundTime: 1, throughputRatio: 1 }),
      ['queryTtft'],
      'median 0.1, not the mean',
    );
    assert.deepEqual(
      flagged({ queryTtft: 0.11, queryRoundTime: 1.1, throughputRatio: 0.9 }),
      [],
      'exactly 10 % worse is within the margin',
    );
    assert.deepEqual(flagged({ queryTtft: 0.01, queryRoundTime: 0.5, throughputRatio: 2 }), []);
    assert.deepEqual(flagged({ queryTtft: 0.1, queryRoundTime: 1, throughputRatio: 0.8 }), ['throughputRatio']);
    const none = compareFigures({ queryTtft: 1, queryRoundTime: null, throughputRatio: null }, [], 10);
    assert.ok(none.every((c) => !c.regression && c.median === null && c.runs === 0));
  });

  it('groups by profile and model, and compares each newest finished run with the passing runs before it', () => {
    const runs = [
      runRecord(1, 'passed', { queryTtft: 0.1 }),
      runRecord(2, 'failed', { queryTtft: 9 }, { failedStage: 'long_doc_qa' }),
      runRecord(3, 'passed', { queryTtft: 0.1 }),
      runRecord(4, 'passed', { queryTtft: 0.2 }, { profile: 'gpu', model: 'Qwen/Qwen3-14B' }),
      runRecord(5, 'failed', { queryTtft: 0.3 }),
      runRecord(6, 'running', {}),
    ];
    const groups = analyseRuns(runs.reverse(), 10);
    assert.deepEqual(
      groups.map((g) => [g.profile, g.runs.length]),
      [
        ['sim', 5],
        ['gpu', 1],
      ],
    );
    const sim = groups[0]!;
    assert.deepEqual(
      sim.runs.map((r) => r.buildId),
      ['build-1', 'build-2', 'build-3', 'build-5', 'build-6'],
      'oldest first',
    );
    assert.equal(sim.latest?.run.buildId, 'build-5', 'a running run is not judged yet');
    const ttft = sim.latest!.comparisons.find((c) => c.figure.id === 'queryTtft')!;
    assert.deepEqual(
      [ttft.median, ttft.runs, ttft.regression],
      [0.1, 2, true],
      'the failed run 2 is left out of the median',
    );
    assert.equal(
      groups[1]!.latest?.comparisons.every((c) => c.runs === 0),
      true,
    );
  });
});

describe('history rendering', () => {
  const runs = [
    runRecord(1, 'passed', { queryTtft: 0.02, queryRoundTime: 0.1, throughputRatio: 1 }),
    runRecord(2, 'passed', { queryTtft: 0.02, queryRoundTime: 0.1, throughputRatio: 1 }),
    runRecord(
      3,
      'failed',
      { queryTtft: 0.08, queryRoundTime: 0.1, throughputRatio: 1 },
      { failedStage: 'long_doc_qa', failedChecks: ['long_doc_qa.query_ttft_per_prompt'], commit: 'c'.repeat(40) },
    ),
  ];

  it('history.md lists every run, says which figure regressed and by how much, and links a chart per figure', () => {
    const page = renderHistory(analyseRuns(runs, 10), { marginPercent: 10, filters: '(test)', generatedAt: 'now' });
    assert.deepEqual(page.regressions, [
      'Query TTFT (LMCache) of build build-3 is 0.08 s, 300 % worse than the median 0.02 s of the 2 passing run(s) before it (lower is better).',
    ]);
    for (const run of runs) assert.ok(page.markdown.includes(`\`${run.buildId}\``));
    assert.match(
      page.markdown,
      /\| `build-3` \| `c{40}` \| ❌ failed \| long_doc_qa \| long_doc_qa\.query_ttft_per_prompt \| 0\.08 s \|/,
    );
    assert.match(page.markdown, /\| `build-2` \| {2}\| ✅ passed \|/, 'a run of the working copy has no commit');
    assert.deepEqual(
      page.charts.map((c) => c.file),
      ['charts/query_ttft.svg', 'charts/query_round_time.svg', 'charts/throughput_ratio.svg'],
    );
    for (const chart of page.charts) assert.ok(page.markdown.includes(`](${chart.file})`));
  });

  it('keeps several groups apart, and says when there is nothing', () => {
    const page = renderHistory(
      analyseRuns([...runs, runRecord(9, 'passed', { queryTtft: 1 }, { profile: 'gpu' })], 10),
      {
        marginPercent: 10,
        filters: '',
        generatedAt: 'now',
      },
    );
    assert.equal(new Set(page.charts.map((c) => c.file)).size, 6);
    assert.match(renderHistory([], { marginPercent: 10, filters: '', generatedAt: 'now' }).markdown, /No runs found/);
  });

  it('charts mark failed runs with a cross, skip missing values and escape labels', () => {
    const svg = lineChartSvg({
      title: 'TTFT <LMCache>',
      unit: 's',
      points: [
        { label: 'a', value: 1, failed: false },
        { label: 'b', value: null, failed: true },
        { label: 'c&d', value: 2, failed: true },
      ],
      reference: { value: 1, label: 'median' },
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+"/);
    assert.ok(svg.includes('TTFT &lt;LMCache&gt; (s)') && svg.includes('c&amp;d'));
    assert.equal((svg.match(/<title>/g) ?? []).length, 2, 'two values drawn');
    assert.ok(svg.includes('<title>c&amp;d: 2 s (failed)</title></path>'), 'the failed value is a cross');
    assert.ok(svg.includes('stroke-dasharray'), 'the reference line');
  });
});

describe("the report's comparison with earlier passing runs", () => {
  const report: RunReport = {
    workflowId: 'wf',
    runId: 'r',
    buildId: 'now',
    profile: 'sim',
    model: 'm',
    passed: false,
    resultsDir: '/tmp/x',
    stages: [],
    checks: [],
    figures: { queryTtft: 0.5, queryRoundTime: 0.1, throughputRatio: null },
  };

  it('shows the earlier runs, the regression and the charts', () => {
    const previous = [1, 2].map((i) => runRecord(i, 'passed', { queryTtft: 0.1, queryRoundTime: 0.1 }));
    const md = renderMarkdown(report, compareWithHistory(report, previous, 10));
    assert.match(md, /## Against the last 2 passing runs/);
    assert.match(md, /❌ \*\*Regression\*\*: Query TTFT \(LMCache\) of build now is 0\.5 s, 400 % worse/);
    assert.match(md, /`build-1`, `build-2`/);
    assert.match(md, /!\[Query TTFT \(LMCache\)\]\(charts\/query_ttft\.svg\)/);
  });

  it('says when there is nothing to compare with, or history could not be read', () => {
    const none = renderHistorySection(compareWithHistory(report, [], 10), report).join('\n');
    assert.match(none, /^## Against earlier passing runs\n\nNo earlier passing run of profile sim/);
    const unavailable = renderHistorySection({ available: false, reason: 'connection refused' }, report).join('\n');
    assert.match(unavailable, /Run history could not be read, so this run is not compared: connection refused/);
  });
});

describe('visibility query', () => {
  it('filters by workflow type and the given attributes', () => {
    assert.equal(
      runsQuery({ profile: 'sim', model: 'Qwen/Qwen3-14B', verdict: 'passed', excludeWorkflowId: 'wf-1' }),
      "WorkflowType = 'lmcacheMpTest' AND LmcacheMpProfile = 'sim' AND LmcacheMpModel = 'Qwen/Qwen3-14B' AND LmcacheMpVerdict = 'passed' AND WorkflowId != 'wf-1'",
    );
    assert.equal(runsQuery({}), "WorkflowType = 'lmcacheMpTest'");
  });

  it("a run's verdict, or its Temporal status when it ended without saying", () => {
    assert.equal(verdictOf('passed', 'COMPLETED'), 'passed');
    assert.equal(verdictOf('failed', 'FAILED'), 'failed');
    assert.equal(verdictOf('running', 'RUNNING'), 'running');
    assert.equal(verdictOf('running', 'TERMINATED'), 'terminated');
    assert.equal(verdictOf(undefined, 'TIMED_OUT'), 'timed_out');
  });

  it('refuses a value that would end its quotes', () => {
    assert.throws(() => runsQuery({ model: "x' OR '1'='1" }), /model: quotes/);
  });
});
