/**
 * Prometheus text parsing, LMCache's counters from its real server's exposition (fixtures), their differences,
 * and how each rendering of the report shows them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { counterDeltas, lmcacheSnapshot, type LmcacheSnapshot } from '../../src/metrics/lmcache-counters.js';
import { maxOf, parsePrometheusText, sumOf } from '../../src/metrics/prometheus-text.js';
import { renderJUnit } from '../../src/report/junit.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { renderSummaryTable } from '../../src/report/terminal.js';
import type { RunReport } from '../../src/report/types.js';

const FIXTURES = new URL('../../../test/fixtures/lmcache_metrics/', import.meta.url);
const exposition = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');

function snapshotOf(text: string): LmcacheSnapshot {
  const snapshot = lmcacheSnapshot(text);
  assert.ok(!('missing' in snapshot), JSON.stringify(snapshot));
  return snapshot;
}

describe('Prometheus text exposition', () => {
  it('reads names, labels and values, and passes over comments, HELP and TYPE lines', () => {
    const samples = parsePrometheusText(
      [
        '# HELP requests_total Requests served.',
        '# TYPE requests_total counter',
        'requests_total{method="get",path="/a"} 3.0',
        'requests_total{method="post",path="/a"} 4',
        '',
        'uptime_seconds 1.5e+03',
        'queue_depth{} 2 1700000000000',
      ].join('\n'),
    );
    assert.deepEqual(samples, [
      { name: 'requests_total', labels: { method: 'get', path: '/a' }, value: 3 },
      { name: 'requests_total', labels: { method: 'post', path: '/a' }, value: 4 },
      { name: 'uptime_seconds', labels: {}, value: 1500 },
      { name: 'queue_depth', labels: {}, value: 2 },
    ]);
  });

  it('unescapes label values holding quotes, commas, braces, backslashes and newlines', () => {
    const [sample] = parsePrometheusText('m{a="say \\"hi\\", {x}",b="c:\\\\d",c="1\\n2",} 1\n');
    assert.deepEqual(sample!.labels, { a: 'say "hi", {x}', b: 'c:\\d', c: '1\n2' });
  });

  it('reads +Inf, -Inf and NaN', () => {
    const values = parsePrometheusText('b{le="+Inf"} +Inf\nlow -Inf\nodd NaN\n').map((sample) => sample.value);
    assert.deepEqual(values.slice(0, 2), [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    assert.ok(Number.isNaN(values[2]));
  });

  it('refuses a line that is not a sample, naming it', () => {
    assert.throws(() => parsePrometheusText('<html>Not Found</html>\n'), /not a Prometheus sample line: <html>/);
    assert.throws(() => parsePrometheusText('m{a=unquoted} 1\n'), /bad labels/);
    assert.throws(() => parsePrometheusText('m one\n'), /not a sample value: "one"/);
  });

  it('sums a counter over its label sets, takes a gauge at its highest, and has no value for an absent metric', () => {
    const samples = parsePrometheusText('c{device="cpu"} 2\nc{device="cuda"} 5\ng{b="x"} 0.25\ng{b="y"} 0.5\n');
    assert.equal(sumOf(samples, 'c'), 7);
    assert.equal(maxOf(samples, 'g'), 0.5);
    assert.equal(sumOf(samples, 'absent'), undefined);
    assert.equal(maxOf(samples, 'absent'), undefined);
  });
});

describe("LMCache's counters", () => {
  it('reads a fresh server: its gauge is there, its counters not yet (nothing counted)', () => {
    assert.deepEqual(snapshotOf(exposition('fresh.txt')), {
      lookups: 0,
      hitTokens: 0,
      finishedStores: 0,
      l1WrittenChunks: 0,
      finishedRetrieves: 0,
      l1ReadChunks: 0,
      chunksLoaded: 0,
      evictedChunks: 0,
      usageRatio: 0,
      queuedEvents: 0,
    });
  });

  it('counts what a store, a hit and a retrieve did between two readings, the chunks it delivered too', () => {
    const deltas = counterDeltas(
      snapshotOf(exposition('fresh.txt')),
      snapshotOf(exposition('after-store-retrieve.txt')),
    );
    assert.deepEqual(deltas, {
      lookups: 2,
      hitTokens: 512,
      finishedStores: 1,
      l1WrittenChunks: 2,
      finishedRetrieves: 1,
      l1ReadChunks: 2,
      chunksLoaded: 2,
      evictedChunks: 0,
      usageRatioAfter: 6.103515625e-5,
    });
  });

  it("says a port without LMCache's metrics is missing them (the sim's stand-in exports lmcache_sim_*)", () => {
    assert.deepEqual(lmcacheSnapshot('# TYPE lmcache_sim_lookups_total counter\nlmcache_sim_lookups_total 4\n'), {
      missing: 'no lmcache_mp_l1_usage_ratio in its metrics',
    });
    assert.match((lmcacheSnapshot('<html></html>') as { missing: string }).missing, /not a Prometheus sample line/);
  });

  it('refuses differences across a restart of the server, where counters went back', () => {
    const after = snapshotOf(exposition('after-store-retrieve.txt'));
    const restarted = snapshotOf(exposition('fresh.txt'));
    assert.match(
      counterDeltas(after, restarted) as string,
      /^lmcache_mp_lookups_requests_total, lmcache_mp_lookup_hit_tokens_total, .*lmcache_mp_num_chunks_loaded_total went back/,
    );
  });
});

function reportWithCounters(): RunReport {
  const deltas = {
    lookups: 40,
    hitTokens: 20480,
    finishedStores: 40,
    l1WrittenChunks: 90,
    finishedRetrieves: 30,
    l1ReadChunks: 80,
    chunksLoaded: 80,
    evictedChunks: 0,
    usageRatioAfter: 0.125,
  };
  return {
    workflowId: 'wf',
    runId: 'run',
    buildId: 'b1',
    profile: 'gpu',
    model: 'm',
    passed: true,
    resultsDir: '/tmp/r',
    stages: [
      {
        name: 'lm_eval',
        status: 'passed',
        durationMs: 1000,
        lmcacheCounters: [
          { run: 'first_run', deltas: { ...deltas, hitTokens: 0 } },
          { run: 'second_run', deltas },
        ],
      },
      // A superseded attempt's counters are not the stage's.
      {
        name: 'long_doc_qa',
        status: 'failed',
        durationMs: 1000,
        superseded: true,
        lmcacheCounters: [{ run: 'lmcache', deltas: { ...deltas, hitTokens: 999 } }],
      },
      {
        name: 'long_doc_qa',
        status: 'passed',
        durationMs: 1000,
        retry: 1,
        lmcacheCounters: [
          { run: 'lmcache', unavailable: 'LMCache metrics not reachable at 127.0.0.1:20003: connection refused' },
        ],
      },
    ],
    checks: [
      { name: 'lm_eval.samples_identical', passed: true, value: 'identical', limit: null },
      { name: 'long_doc_qa.query_ttft_per_prompt', passed: true, value: 0.1, limit: 0.22 },
    ],
  };
}

describe("LMCache's counters in the report", () => {
  it('Markdown: a table below the benchmark, a failed reading says why', () => {
    const markdown = renderMarkdown(reportWithCounters());
    assert.match(markdown, /\| first_run \| 0 \| 40 \| 90 \| 30 \| 80 \| 0 \| 12\.5 % \|/);
    assert.match(markdown, /\| second_run \| 20480 \| 40 \| 90 \| 30 \| 80 \| 0 \| 12\.5 % \|/);
    assert.match(
      markdown,
      /\| lmcache \| LMCache metrics not reachable at 127\.0\.0\.1:20003: connection refused( \|){7}\n/,
    );
    assert.doesNotMatch(markdown, /999/);
    // lm_eval has no baseline run.
    const lmEval = markdown.slice(markdown.indexOf('### lm_eval'), markdown.indexOf('### vllm bench'));
    assert.doesNotMatch(lmEval, /baseline/);
  });

  it('terminal: the counters in columns, the unreadable run in words', () => {
    const text = renderSummaryTable(reportWithCounters());
    assert.match(text, /LMCache counters\n {2}BENCHMARK +RUN +HIT TOKENS/);
    assert.match(text, /lm_eval +second_run +20480 +40 +90 +30 +80 +0 +12\.5 %/);
    assert.match(text, /long_doc_qa lmcache: LMCache metrics not reachable at 127\.0\.0\.1:20003: connection refused/);
  });

  it("JUnit: the counters as the benchmark suite's properties", () => {
    const xml = renderJUnit(reportWithCounters());
    assert.match(xml, /<property name="lmcache\.second_run\.hit_tokens" value="20480"\/>/);
    assert.match(xml, /<property name="lmcache\.second_run\.chunks_loaded" value="80"\/>/);
    assert.match(xml, /<property name="lmcache\.second_run\.l1_usage_ratio_after" value="0\.125"\/>/);
    assert.match(xml, /<property name="lmcache\.lmcache\.unavailable" value="LMCache metrics not reachable at/);
  });

  it('a report without counters (runs before them) renders no counter section', () => {
    const report = reportWithCounters();
    for (const stage of report.stages) delete stage.lmcacheCounters;
    assert.doesNotMatch(renderMarkdown(report), /LMCache's own counters/);
    assert.doesNotMatch(renderSummaryTable(report), /LMCache counters/);
    assert.doesNotMatch(renderJUnit(report), /lmcache\./);
  });
});
