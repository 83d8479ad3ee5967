/** What tells a good commit from a bad one: the CLI forms and the judgement of a probe's report. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  describePredicate,
  judgeProbe,
  parsePredicate,
  predicateCli,
  type Predicate,
} from '../../src/bisect/predicate.js';
import { InvalidConfigError } from '../../src/config/schema.js';
import { FailureType } from '../../src/failures.js';
import type { Check, RunReport, StageReport } from '../../src/report/types.js';

const ttft = (value: number, passed = value <= 0.2): Check => ({
  name: 'long_doc_qa.query_ttft_per_prompt',
  passed,
  value,
  limit: 0.2,
});
/** LMCache at 1900 tok/s against a 2000 tok/s baseline: the limit is 2000 × 0.95 = 1900, a ratio of 0.95. */
const throughput: Check = { name: 'vllm_bench.throughput', passed: true, value: 1900, limit: 1900 };

function report(checks: Check[], stages: StageReport[] = []): RunReport {
  return {
    workflowId: 'bisect-probe-3',
    runId: 'r1',
    buildId: 'b1',
    profile: 'sim',
    model: 'sim/greedy-echo',
    passed: checks.every((c) => c.passed) && stages.every((s) => s.status === 'passed'),
    resultsDir: '/tmp/r',
    stages,
    checks,
  };
}

const stage = (name: string, status: StageReport['status'], errorType?: string, error?: string): StageReport => ({
  name,
  status,
  durationMs: 1000,
  ...(errorType ? { errorType } : {}),
  ...(error ? { error } : {}),
});

/** The InvalidConfigError's one problem, so a test reads the message a user sees. */
function problem(text: string): string {
  try {
    parsePredicate(text);
  } catch (error) {
    assert.ok(error instanceof InvalidConfigError, String(error));
    return error.problems.join('\n');
  }
  assert.fail(`${JSON.stringify(text)} was accepted`);
}

describe('parsePredicate', () => {
  it('reads --check NAME and --figure FIGURE>LIMIT, with = or spaces', () => {
    const cases: [string, Predicate][] = [
      ['--check long_doc_qa.query_ttft_per_prompt', { check: 'long_doc_qa.query_ttft_per_prompt' }],
      ['--check=vllm_bench.throughput', { check: 'vllm_bench.throughput' }],
      ['--check vllm_bench.lmcache.completed', { check: 'vllm_bench.lmcache.completed' }],
      ['--figure queryTtft>0.15', { figure: 'queryTtft', op: '>', limit: 0.15 }],
      ['--figure=throughputRatio<0.9', { figure: 'throughputRatio', op: '<', limit: 0.9 }],
      ['--figure  queryRoundTime > 1e-1 ', { figure: 'queryRoundTime', op: '>', limit: 0.1 }],
    ];
    for (const [text, expected] of cases) assert.deepEqual(parsePredicate(text), expected, text);
  });

  it('names the argument and the value, and lists the figures', () => {
    assert.match(problem('--figure ttft>0.15'), /^--figure: unknown figure "ttft" in "ttft>0.15"/);
    assert.match(problem('--figure ttft>0.15'), /figures: queryTtft, queryRoundTime, throughputRatio$/);
    assert.match(
      problem('--figure queryTtft>=0.15'),
      /--figure: the limit "=0.15" in "queryTtft>=0.15" is not a number/,
    );
    assert.match(problem('--figure queryTtft>fast'), /the limit "fast" .* is not a number/);
    assert.match(problem('--figure queryTtft'), /^--figure: expected FIGURE>LIMIT .*queryTtft, .*; got "queryTtft"$/);
    assert.match(problem('--check'), /^bisect predicate: expected --check NAME or --figure .* got "--check"$/);
    assert.match(problem('--check Query TTFT'), /^--check: expected a check name .* got "Query TTFT"$/);
    assert.match(problem('--check query_ttft'), /got "query_ttft"$/);
    assert.match(
      problem('queryTtft>0.15'),
      /^bisect predicate: .*FIGURE one of queryTtft, queryRoundTime, throughputRatio/,
    );
  });

  it('prints back the form it reads, quoted for a shell', () => {
    for (const text of ["--figure 'queryTtft>0.15'", '--check vllm_bench.throughput']) {
      const predicate = parsePredicate(text.replace(/'/g, ''));
      assert.equal(predicateCli(predicate), text);
    }
    assert.equal(
      describePredicate({ figure: 'queryTtft', op: '>', limit: 0.15 }),
      'bad when Query TTFT (LMCache) is above 0.15 s',
    );
    assert.equal(describePredicate({ figure: 'throughputRatio', op: '<', limit: 0.9 }).endsWith('below 0.9'), true);
  });
});

describe('judgeProbe with a check', () => {
  const predicate = { check: 'long_doc_qa.query_ttft_per_prompt' };

  it('is bad when the check failed and good when it passed, with its value as the figure', () => {
    assert.deepEqual(judgeProbe(predicate, report([ttft(0.31)]), 5), {
      outcome: 'bad',
      figure: 0.31,
      reason: 'long_doc_qa.query_ttft_per_prompt failed (value 0.31, limit 0.2) → bad',
    });
    assert.equal(judgeProbe(predicate, report([ttft(0.021)]), 5).outcome, 'good');
  });

  it('is infra, never bad, when the check is absent: a stage broke or never ran', () => {
    const broken = report(
      [],
      [stage('build', 'passed'), stage('health', 'failed', FailureType.ServersNotHealthy, 'vLLM never answered')],
    );
    assert.deepEqual(judgeProbe(predicate, broken, 5), {
      outcome: 'infra',
      reason:
        "long_doc_qa.query_ttft_per_prompt is not in the run's report; stage health failed (ServersNotHealthy): vLLM never answered",
    });
    assert.match(
      judgeProbe(predicate, report([throughput]), 5).reason,
      /not in the run's report: its stage did not run$/,
    );
    const cancelled = report([], [stage('long_doc_qa', 'cancelled', 'CancelledFailure')]);
    assert.equal(judgeProbe(predicate, cancelled, 5).outcome, 'infra');
  });

  it("decides by the check when it was measured, and says which other stage broke; other checks' failures don't count", () => {
    const later = report([ttft(0.5)], [stage('my_test', 'failed', FailureType.ToolFailed, 'exit 2')]);
    assert.deepEqual(judgeProbe(predicate, later, 5), {
      outcome: 'bad',
      figure: 0.5,
      reason:
        'long_doc_qa.query_ttft_per_prompt failed (value 0.5, limit 0.2) → bad; stage my_test failed (ToolFailed): exit 2',
    });
    const otherCheck = { name: 'lm_eval.samples_identical', passed: false, value: 'differ', limit: 'identical' };
    const checkFailed = stage('lm_eval', 'failed', FailureType.BenchmarkCheckFailed, '1 check failed');
    assert.deepEqual(judgeProbe(predicate, report([otherCheck, ttft(0.02)], [checkFailed]), 5).outcome, 'good');
    // A stage error a later attempt replaced is history, not a broken stage.
    const retried = { ...stage('long_doc_qa', 'failed', FailureType.ToolFailed, 'exit 1'), superseded: true };
    assert.equal(
      judgeProbe(predicate, report([ttft(0.02)], [retried, stage('long_doc_qa', 'passed')]), 5).reason,
      'long_doc_qa.query_ttft_per_prompt passed (value 0.02, limit 0.2) → good',
    );
  });

  it('reads a non-numeric check, and flags a report-only one', () => {
    const samples = { check: 'lm_eval.samples_identical' };
    const differ = { name: 'lm_eval.samples_identical', passed: false, value: 'differ', limit: 'identical' };
    assert.deepEqual(judgeProbe(samples, report([differ]), 5), {
      outcome: 'bad',
      reason: 'lm_eval.samples_identical failed (value differ, limit identical) → bad',
    });
    const served = { name: 'long_doc_qa.lmcache_served', passed: true, value: 0, limit: 50, reportOnly: true };
    assert.match(
      judgeProbe({ check: served.name }, report([served]), 5).reason,
      /passed \(value 0, limit 50, report-only \(REQUIRE_LMCACHE_EVIDENCE=0\)\) → good$/,
    );
  });
});

describe('judgeProbe with a figure', () => {
  it('is bad past the limit in the direction of the operator, good at or inside it', () => {
    const above = { figure: 'queryTtft', op: '>', limit: 0.15 } as const;
    assert.deepEqual(judgeProbe(above, report([ttft(0.31)]), 5), {
      outcome: 'bad',
      figure: 0.31,
      reason: 'queryTtft 0.31 s > 0.15 → bad',
    });
    assert.deepEqual(judgeProbe(above, report([ttft(0.15)]), 5), {
      outcome: 'good',
      figure: 0.15,
      reason: 'queryTtft 0.15 s ≤ 0.15 → good',
    });
    const below = { figure: 'throughputRatio', op: '<', limit: 0.96 } as const;
    const judged = judgeProbe(below, report([throughput]), 5);
    assert.equal(judged.outcome, 'bad');
    assert.ok(Math.abs(judged.figure! - 0.95) < 1e-12);
    // The ratio depends on the slowdown the limit was computed with: at 0 %, the limit is the baseline itself.
    assert.equal(judgeProbe(below, report([throughput]), 0).outcome, 'good');
  });

  it('is infra when the figure was not measured, naming the broken stage', () => {
    const predicate = { figure: 'queryRoundTime', op: '>', limit: 0.3 } as const;
    const broken = report([], [stage('long_doc_qa', 'failed', FailureType.ToolFailed, 'long_doc_qa.py exited 1')]);
    assert.deepEqual(judgeProbe(predicate, broken, 5), {
      outcome: 'infra',
      reason: 'queryRoundTime was not measured; stage long_doc_qa failed (ToolFailed): long_doc_qa.py exited 1',
    });
    assert.equal(
      judgeProbe(predicate, report([]), 5).reason,
      'queryRoundTime was not measured: its benchmark did not run',
    );
  });
});
