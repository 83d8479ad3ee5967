import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { renderJUnit } from '../../src/report/junit.js';
import { renderComparisonTable, renderMarkdown } from '../../src/report/markdown.js';
import { renderSummaryTable } from '../../src/report/terminal.js';
import { verdictExitCode, verdictWithOverrides } from '../../src/report/verdict.js';
import { verifyLmEvalSamples } from '../../src/verification/lm-eval.js';
import { comparisonRows, parseLongDocQaStdout, verifyLongDocQa } from '../../src/verification/long-doc-qa.js';
import type { RunReport } from '../../src/report/types.js';
import { parseBenchResult, verifyBench } from '../../src/verification/vllm-bench.js';

const FIXTURES = new URL('../../../test/fixtures/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, FIXTURES), 'utf8');

function samples(run: string) {
  const dir = `lm_eval/${run}/sim__model/`;
  const file = readdirSync(new URL(dir, FIXTURES)).find((f) => f.startsWith('samples_'))!;
  return { path: dir + file, text: read(dir + file) };
}

/** A whole run's report, its checks computed from the tools' fixture outputs. */
function passingReport(): RunReport {
  const longDocQa = {
    baseline: parseLongDocQaStdout(read('long_doc_qa/baseline_stdout.txt'), 'baseline'),
    lmcache: parseLongDocQaStdout(read('long_doc_qa/lmcache_stdout.txt'), 'lmcache'),
  };
  const bench = {
    baseline: { result: parseBenchResult(read('vllm_bench/baseline.json'), 'baseline.json'), chatFrameTokens: 0 },
    lmcache: { result: parseBenchResult(read('vllm_bench/lmcache.json'), 'lmcache.json'), chatFrameTokens: 0 },
  };
  return {
    workflowId: 'lmcache-mp-test-local_1764293400',
    runId: '0195c6a2-7f0e-7d7a-9a51-1d2b3c4d5e6f',
    buildId: 'local_1764293400',
    profile: 'sim',
    model: 'Qwen/Qwen3-14B',
    passed: true,
    resultsDir: '/tmp/lmcache_ci_results_local_1764293400',
    placement: {
      node: 'gpu-node-1',
      gpus: { withLmcache: 2, baseline: 5 },
      ports: { vllm: 20004, baseline: 20005, lmcache: 20006, prometheus: 20007 },
    },
    stages: [
      { name: 'build', status: 'passed', durationMs: 84_250, attempts: 1 },
      { name: 'launch', status: 'passed', durationMs: 10_400, attempts: 1 },
      { name: 'wait-healthy', status: 'passed', durationMs: 3_150, attempts: 1 },
      { name: 'lm_eval', status: 'passed', durationMs: 61_000, attempts: 1 },
      { name: 'vllm_bench', status: 'passed', durationMs: 45_700, attempts: 2 },
      { name: 'long_doc_qa', status: 'passed', durationMs: 3_725_000, attempts: 1 },
      { name: 'cleanup', status: 'passed', durationMs: 850, attempts: 1 },
    ],
    checks: [
      ...verifyLmEvalSamples(samples('first_run'), samples('second_run')),
      ...verifyBench(bench, {
        numPrompts: 20,
        randomInputLen: 2000,
        maxSlowdownPercent: 5,
        tokenCountTolerancePercent: 1,
      }),
      ...verifyLongDocQa(longDocQa, { maxTtft: 0.22, maxQueryRoundTime: 0.58 }),
    ],
    longDocQaComparison: comparisonRows(longDocQa),
  };
}

const NASTY = 'Outputs differ: <resps> & "filtered_resps" \'quoted\' ]]> \u001b[31mred\u001b[0m \u0007bell';

/** The same run, with the long doc QA stage broken and a check failing with markup in its detail. */
function failingReport(): RunReport {
  const report = passingReport();
  report.passed = false;
  report.stages[5] = {
    name: 'long_doc_qa',
    status: 'failed',
    durationMs: 12_000,
    attempts: 3,
    errorType: 'OutputParseError',
    error: 'long_doc_qa output lmcache: the last line is not JSON\nTraceback <module> & more',
  };
  report.stages[6] = { name: 'cleanup', status: 'cancelled', durationMs: 0 };
  report.stages.push({ name: 'report', status: 'skipped', durationMs: 0 });
  report.checks = report.checks.filter((c) => !c.name.startsWith('long_doc_qa.'));
  report.checks[0] = { ...report.checks[0]!, passed: false, value: 3, limit: 0, detail: NASTY };
  delete report.longDocQaComparison;
  return report;
}

/**
 * A strict check of the XML this renderer can produce: one root, balanced tags, quoted attributes,
 * only the predefined or numeric entities, no raw `<` or `&`, and no characters XML 1.0 forbids.
 */
function assertWellFormedXml(xml: string): void {
  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/);
  assert.doesNotMatch(xml, /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/, 'forbidden control character');
  const body = xml.replace(/^<\?xml[^?]*\?>/, '');
  const entity = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
  const checkText = (text: string) =>
    assert.doesNotMatch(text.replace(entity, ''), /[&<]/, `raw markup in ${JSON.stringify(text)}`);
  const token = /<\/([A-Za-z_][\w.-]*)\s*>|<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"]*")*)\s*(\/?)>|([^<]+)/y;
  const stack: string[] = [];
  let roots = 0;
  for (let pos = 0; pos < body.length; pos = token.lastIndex) {
    token.lastIndex = pos;
    const m = token.exec(body);
    assert.ok(m, `not well-formed at ${JSON.stringify(body.slice(pos, pos + 60))}`);
    const [, close, open, attributes, selfClosing, text] = m;
    if (close) assert.equal(stack.pop(), close, `mismatched </${close}>`);
    else if (open) {
      if (stack.length === 0) roots++;
      for (const [, value] of attributes!.matchAll(/="([^"]*)"/g)) checkText(value!);
      if (!selfClosing) stack.push(open);
    } else {
      if (stack.length === 0) assert.match(text!, /^\s*$/, 'text outside the root');
      checkText(text!);
    }
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.equal(roots, 1);
}

const unescapeXml = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

describe('renderMarkdown', () => {
  it('shows the verdict, every stage and every check with its value and limit', () => {
    const report = passingReport();
    const md = renderMarkdown(report);
    assert.match(md, /^# ✅ LMCache multiprocessing test passed/);
    assert.match(md, /\*\*10 of 10 checks passed · 7 of 7 stages passed\*\*/);
    assert.match(
      md,
      /\| Node \| gpu-node-1 · GPUs 2 \(LMCache\) and 5 \(baseline\) · ports vllm 20004, baseline 20005,/,
    );
    for (const stage of report.stages) assert.match(md, new RegExp(`\\| ${stage.name} \\| ✅ passed \\|`));
    assert.match(md, /\| long_doc_qa \| ✅ passed \| 1 h 02 m 05 s \| 1 \|/);
    assert.match(md, /\| build \| ✅ passed \| 1 m 24 s \| 1 \|/);
    assert.match(md, /\| cleanup \| ✅ passed \| 850 ms \| 1 \|/);
    for (const check of report.checks) assert.ok(md.includes(`| \`${check.name}\` | ✅ pass |`), check.name);
    assert.match(md, /\| `long_doc_qa\.query_ttft_per_prompt` \| ✅ pass \| 0\.1527 \| 0\.22 \|/);
    assert.match(md, /\| `vllm_bench\.lmcache\.total_input_tokens` \| ✅ pass \| 40000 \| 40000 \|/);
    assert.doesNotMatch(md, /What failed/);
    assert.match(md, /\*\*Verdict: PASSED\*\*\n$/);
  });

  it('includes the long doc QA comparison table and charts of durations and latencies', () => {
    const report = passingReport();
    const md = renderMarkdown(report);
    assert.ok(md.includes(renderComparisonTable(report.longDocQaComparison!)));
    const charts = [...md.matchAll(/```mermaid\nxychart-beta\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.equal(charts.length, 2);
    assert.match(
      charts[0]!,
      /x-axis \["build", "launch", "wait-healthy", "lm_eval", "vllm_bench", "long_doc_qa", "cleanup"\]/,
    );
    assert.match(charts[0]!, /bar \[84\.25, 10\.4, 3\.15, 61, 45\.7, 3725, 0\.85\]/);
    assert.match(charts[1]!, /"Query TTFT per prompt, baseline", "Query TTFT per prompt, LMCache"/);
    assert.match(charts[1]!, /bar \[1\.28, 0\.1527, /);
  });

  it('lists what failed first, and escapes table cells', () => {
    const md = renderMarkdown(failingReport());
    assert.match(md, /^# ❌ LMCache multiprocessing test failed/);
    const failed = md.slice(md.indexOf('## What failed'), md.indexOf('## Stages'));
    assert.match(
      failed,
      /stage \*\*long_doc_qa\*\* failed: OutputParseError: long_doc_qa output lmcache: the last line is not JSON Traceback &lt;module&gt; & more/,
    );
    assert.match(failed, /stage \*\*cleanup\*\* cancelled/);
    assert.match(failed, /\*\*lm_eval\.samples_identical\*\*: Outputs differ: &lt;resps&gt; & "filtered_resps"/);
    assert.match(md, /\| `lm_eval\.samples_identical` \| ❌ fail \| 3 \| 0 \|/);
    assert.match(md, /\| report \| ⏭️ skipped \|/);
    assert.match(md, /### Long document QA \(latency\)\n\nNo checks: this benchmark did not run\./);
    assert.doesNotMatch(md, /## Long document QA: LMCache vs baseline/);
    assert.match(md, /\*\*Verdict: FAILED\*\*\n$/);
    const withPipe = failingReport();
    withPipe.checks[0]!.detail = 'a | b\nc';
    assert.ok(renderMarkdown(withPipe).includes('| a \\| b c |'));
    withPipe.checks[0]!.detail = 'reads `<think>` but <b>';
    assert.ok(renderMarkdown(withPipe).includes('| reads `<think>` but &lt;b&gt; |'));
  });
});

describe('renderJUnit', () => {
  it('is well-formed, with a stages suite and one suite per benchmark', () => {
    const xml = renderJUnit(passingReport());
    assertWellFormedXml(xml);
    const suites = [...xml.matchAll(/<testsuite name="([^"]+)" tests="(\d+)" failures="(\d+)"/g)].map((m) => [
      m[1],
      Number(m[2]),
      Number(m[3]),
    ]);
    assert.deepEqual(suites, [
      ['stages', 7, 0],
      ['lm_eval', 2, 0],
      ['vllm_bench', 6, 0],
      ['long_doc_qa', 2, 0],
    ]);
    assert.match(xml, /<testsuites name="lmcache-mp-test" tests="17" failures="0" errors="0" time="3930\.350">/);
    assert.match(xml, /<testcase name="long_doc_qa" classname="stages" time="3725\.000"\/>/);
    assert.match(xml, /<testcase name="vllm_bench\.throughput" classname="vllm_bench" time="0\.000"\/>/);
    assert.match(xml, /<property name="model" value="Qwen\/Qwen3-14B"\/>/);
  });

  it('escapes details with markup, strips terminal colours, and reports value and limit in failures', () => {
    const xml = renderJUnit(failingReport());
    assertWellFormedXml(xml);
    assert.ok(!xml.includes('<resps>'));
    const failure =
      /<testcase name="lm_eval\.samples_identical" classname="lm_eval" time="0\.000">\n\s*<failure message="([^"]*)" type="CheckFailed">([^<]*)<\/failure>/.exec(
        xml,
      );
    assert.ok(failure, xml);
    const expectedDetail = 'Outputs differ: <resps> & "filtered_resps" \'quoted\' ]]> red bell';
    assert.equal(unescapeXml(failure[1]!), expectedDetail);
    assert.equal(unescapeXml(failure[2]!), `value: 3\nlimit: 0\ndetail: ${expectedDetail}`);
  });

  it('marks a failed or cancelled stage as a failure and a skipped one as skipped', () => {
    const xml = renderJUnit(failingReport());
    assert.match(xml, /<testsuite name="stages" tests="8" failures="2" errors="0" skipped="1"/);
    assert.match(
      xml,
      /<testcase name="long_doc_qa" classname="stages" time="12\.000">\n\s*<failure message="long_doc_qa output lmcache: the last line is not JSON" type="OutputParseError">status: failed\nattempts: 3\nerror: /,
    );
    assert.match(
      xml,
      /<testcase name="cleanup" classname="stages" time="0\.000">\n\s*<failure message="stage cancelled" type="cancelled">/,
    );
    assert.match(
      xml,
      /<testcase name="report" classname="stages" time="0\.000">\n\s*<skipped message="stage skipped"\/>/,
    );
    assert.match(xml, /<testsuite name="long_doc_qa" tests="0" failures="0"/);
    assert.match(xml, /<testsuites name="lmcache-mp-test" tests="\d+" failures="3"/);
  });
});

describe('renderSummaryTable', () => {
  it('aligns stages and checks in columns and ends with the verdict', () => {
    const report = passingReport();
    const text = renderSummaryTable(report);
    const lines = text.trimEnd().split('\n');
    assert.equal(
      lines[1],
      'node gpu-node-1 · GPUs 2 (LMCache) and 5 (baseline) · ports vllm 20004, baseline 20005, lmcache 20006, prometheus 20007',
      'the ports the servers listened on, which are not the defaults',
    );
    assert.equal(lines.at(-1), 'Verdict: PASSED (10/10 checks passed, 7/7 stages passed)');
    const header = lines.find((l) => l.trimStart().startsWith('CHECK'))!;
    const rows = lines.filter((l) => /^\s+(lm_eval|vllm_bench|long_doc_qa)\.\S+\s/.test(l));
    assert.equal(rows.length, report.checks.length);
    for (const check of report.checks)
      assert.ok(
        rows.some((r) => r.trimStart().startsWith(`${check.name} `)),
        check.name,
      );
    for (const row of rows) {
      assert.equal(row.indexOf('PASS'), header.indexOf('RESULT'), row);
    }
    const stageHeader = lines.find((l) => l.trimStart().startsWith('STAGE'))!;
    const longDoc = lines.find((l) => /^\s+long_doc_qa\s+PASSED/.test(l))!;
    assert.equal(longDoc.indexOf('1 h 02 m 05 s'), stageHeader.indexOf('DURATION'));
  });

  it('lists failures with their details before the verdict', () => {
    const text = renderSummaryTable(failingReport());
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.at(-1), 'Verdict: FAILED (7/8 checks passed, 5/8 stages passed)');
    assert.ok(
      text.includes(
        '  - stage long_doc_qa failed: long_doc_qa output lmcache: the last line is not JSON Traceback <module> & more',
      ),
    );
    assert.ok(text.includes(`  - lm_eval.samples_identical: ${NASTY}`));
    assert.match(text, /lm_eval\.samples_identical\s+FAIL\s+3\s+0/);
  });
});

describe('a run whose selected stages hold no check', () => {
  /** STAGES=build,launch,health: every stage passed, and nothing was checked. */
  function noChecksReport(): RunReport {
    const report = passingReport();
    report.stages = report.stages.filter((s) => ['build', 'launch', 'wait-healthy', 'cleanup'].includes(s.name));
    report.checks = [];
    delete report.longDocQaComparison;
    return report;
  }

  it('says so in the Markdown title and verdict', () => {
    const md = renderMarkdown(noChecksReport());
    assert.match(md, /^# ✅ LMCache multiprocessing test passed — no checks selected/);
    assert.match(md, /\*\*Verdict: PASSED — no checks selected\*\*\n$/);
  });

  it('says so in the terminal summary', () => {
    const lines = renderSummaryTable(noChecksReport()).trimEnd().split('\n');
    assert.equal(lines.at(-1), 'Verdict: PASSED — no checks selected (0/0 checks passed, 4/4 stages passed)');
  });

  it('does not say so when checks ran', () => {
    assert.doesNotMatch(renderMarkdown(passingReport()), /no checks selected/);
    assert.doesNotMatch(renderSummaryTable(passingReport()), /no checks selected/);
  });
});

describe('a run green through a retryStage with an overridden threshold', () => {
  function overriddenReport(): RunReport {
    const report = passingReport();
    report.verdict = 'passed-with-overrides';
    const index = report.stages.findIndex((s) => s.name === 'long_doc_qa');
    const first = { ...report.stages[index], status: 'failed' as const, superseded: true, error: '1 check failed' };
    const retried = {
      ...report.stages[index],
      retry: 1,
      overrides: { maxLmcacheTtft: { original: 0.001, overridden: 0.1 } },
    };
    report.stages.splice(index, 1, first, retried);
    return report;
  }

  it('says so in the title, the verdict and the terminal summary, with both values side by side', () => {
    const md = renderMarkdown(overriddenReport());
    assert.match(md, /^# ✅ LMCache multiprocessing test passed-with-overrides/);
    assert.match(md, /\*\*Verdict: PASSED-with-overrides\*\*\n$/);
    assert.match(md, /\| long_doc_qa \| retry 1 \| `maxLmcacheTtft` \| 0\.001 \| \*\*0\.1\*\* \|/);
    assert.match(md, /failed \(superseded by a retry\)/);
    assert.doesNotMatch(md, /## What failed/, 'a superseded attempt is not a failure of the run');
    assert.match(renderSummaryTable(overriddenReport()), /Verdict: PASSED-with-overrides/);
  });

  it('names the standing overrides in the terminal summary and in one line, and exits 3 for CI', () => {
    const report = overriddenReport();
    assert.match(
      renderSummaryTable(report),
      /\nOverridden by retryStage\n {2}- long_doc_qa: maxLmcacheTtft 0\.001 → 0\.1\n/,
    );
    assert.equal(verdictWithOverrides(report), 'passed-with-overrides (long_doc_qa: maxLmcacheTtft 0.001 → 0.1)');
    assert.equal(verdictExitCode(report), 3);
    assert.equal(verdictExitCode(passingReport()), 0);
    assert.equal(verdictExitCode({ ...report, passed: false }), 1);
    // An override whose attempt a later retry superseded no longer stands.
    const superseded = overriddenReport();
    superseded.stages.filter((s) => s.name === 'long_doc_qa').forEach((s) => (s.superseded = s.retry === 1));
    assert.equal(verdictWithOverrides({ ...superseded, verdict: 'passed' }), 'passed');
    assert.doesNotMatch(renderSummaryTable(superseded), /Overridden by retryStage/);
  });

  it('keeps the superseded attempt in JUnit as skipped, not as a failure', () => {
    const xml = renderJUnit(overriddenReport());
    assert.match(xml, /<testsuites name="lmcache-mp-test" tests="\d+" failures="0"/);
    assert.match(xml, /<skipped message="failed, superseded by a later retryStage attempt"\/>/);
    assert.match(xml, /name="long_doc_qa \(retry 1\)"/);
  });
});

describe('LMCache evidence checks that only report (REQUIRE_LMCACHE_EVIDENCE=0)', () => {
  function reportOnlyReport(): RunReport {
    const report = passingReport();
    report.checks.push({
      name: 'long_doc_qa.lmcache_served',
      passed: true,
      reportOnly: true,
      value: 0,
      limit: null,
      detail:
        "report only (REQUIRE_LMCACHE_EVIDENCE=0), NOT shown: the workload never reached LMCache: 4 documents × 2000 tokens fit vLLM's prefix cache; raise NUM_DOCUMENTS or DOCUMENT_LENGTH",
    });
    return report;
  }

  it('are marked as such, not as passed, and the verdict says they did not decide it', () => {
    const md = renderMarkdown(reportOnlyReport());
    assert.match(
      md,
      /\| `long_doc_qa\.lmcache_served` \| ℹ️ report only \| 0 \| — \| report only \(REQUIRE_LMCACHE_EVIDENCE=0\), NOT shown: /,
    );
    assert.match(
      md,
      /ℹ️ 1 LMCache evidence check is report only \(REQUIRE_LMCACHE_EVIDENCE=0\): they did not decide the verdict\./,
    );
    const text = renderSummaryTable(reportOnlyReport());
    assert.match(text, /long_doc_qa\.lmcache_served +REPORT ONLY +0/);
    assert.match(text, /Note: 1 LMCache evidence check is report only/);
    assert.match(
      renderJUnit(reportOnlyReport()),
      /<skipped message="report only \(REQUIRE_LMCACHE_EVIDENCE=0\), NOT shown: /,
    );
    assert.doesNotMatch(renderMarkdown(passingReport()), /report only/);
  });
});
