import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { OutputParseError } from '../../src/verification/errors.js';
import type { Check } from '../../src/report/types.js';
import { parseBenchResult, verifyBench, type BenchResult } from '../../src/verification/vllm-bench.js';

/** Saved by the real `vllm bench serve` (PyPI vllm 0.33) against the sim: 20 random prompts of 2000 tokens (see README there). */
function fixture(name: string): BenchResult {
  const path = `vllm_bench/${name}.json`;
  return parseBenchResult(readFileSync(new URL(`../../../test/fixtures/${path}`, import.meta.url), 'utf8'), path);
}

const LIMITS = { numPrompts: 20, randomInputLen: 2000, maxSlowdownPercent: 5 };

function byName(checks: Check[], name: string): Check {
  const check = checks.find((c) => c.name === name);
  assert.ok(check, `no check named ${name}`);
  return check;
}

function result(total_token_throughput: number): BenchResult {
  return { completed: 20, total_input_tokens: 40000, total_token_throughput };
}

describe('parseBenchResult', () => {
  it('reads a saved result with all its fields', () => {
    const baseline = fixture('baseline');
    assert.equal(baseline.completed, 20);
    assert.equal(baseline.total_input_tokens, 40000);
    assert.ok(Math.abs(baseline.total_token_throughput - 4779.18) < 0.01);
    assert.equal(baseline.model_id, 'sim/greedy-echo');
  });

  it("accepts Python's NaN and Infinity in fields it does not check", () => {
    const parsed = parseBenchResult(
      '{"completed": 50, "total_input_tokens": 500000, "total_token_throughput": 12.5, "std_tpot_ms": NaN, "label": "NaN", "x": -Infinity}',
      'r.json',
    );
    assert.ok(Number.isNaN(parsed.std_tpot_ms));
    assert.equal(parsed.label, 'NaN');
    assert.equal(parsed.x, Number.NEGATIVE_INFINITY);
  });

  const bad: [string, string, RegExp][] = [
    ['empty file', '  \n', /empty/],
    ['not JSON', 'Traceback (most recent call last):', /not valid JSON/],
    ['truncated JSON', '{"completed": 50, "total_input_tok', /not valid JSON/],
    ['an array', '[1, 2]', /not a JSON object/],
    ['missing field', '{"completed": 50, "total_input_tokens": 500000}', /"total_token_throughput" is missing/],
    [
      'string field',
      '{"completed": "50", "total_input_tokens": 500000, "total_token_throughput": 1}',
      /"completed" is the string "50", not a number/,
    ],
    [
      'null field',
      '{"completed": 50, "total_input_tokens": null, "total_token_throughput": 1}',
      /"total_input_tokens" is null/,
    ],
    [
      'NaN field',
      '{"completed": 50, "total_input_tokens": 500000, "total_token_throughput": NaN}',
      /"total_token_throughput" is NaN, not a finite number/,
    ],
  ];
  for (const [what, text, message] of bad) {
    it(`throws OutputParseError naming the source on ${what}`, () => {
      assert.throws(
        () => parseBenchResult(text, 'vllm_bench/lmcache.json'),
        (err: unknown) =>
          err instanceof OutputParseError && /vllm_bench\/lmcache\.json/.test(err.message) && message.test(err.message),
      );
    });
  }
});

describe('verifyBench', () => {
  it('passes the reference criteria on good runs, one check per criterion', () => {
    const checks = verifyBench({ baseline: fixture('baseline'), lmcache: fixture('lmcache') }, LIMITS);
    assert.deepEqual(
      checks.map((c) => c.name),
      [
        'vllm_bench.baseline.completed',
        'vllm_bench.baseline.total_input_tokens',
        'vllm_bench.lmcache.completed',
        'vllm_bench.lmcache.total_input_tokens',
        'vllm_bench.throughput',
      ],
    );
    assert.ok(
      checks.every((c) => c.passed),
      JSON.stringify(checks, null, 1),
    );
    assert.equal(byName(checks, 'vllm_bench.lmcache.total_input_tokens').limit, 40000);
    const throughput = byName(checks, 'vllm_bench.throughput');
    assert.ok(Math.abs((throughput.limit as number) - 4779.18 * 0.95) < 0.01);
  });

  it('passes throughput exactly at the limit and fails just below it', () => {
    assert.equal(
      byName(verifyBench({ baseline: result(1000), lmcache: result(950) }, LIMITS), 'vllm_bench.throughput').passed,
      true,
    );
    assert.equal(
      byName(verifyBench({ baseline: result(1000), lmcache: result(949.99) }, LIMITS), 'vllm_bench.throughput').passed,
      false,
    );
    // 12345.67 × 0.95 is 11728.3865 to a person, a rounding error away from it in floating point.
    assert.equal(
      byName(verifyBench({ baseline: result(12345.67), lmcache: result(11728.3865) }, LIMITS), 'vllm_bench.throughput')
        .passed,
      true,
    );
  });

  it('reports the value and the minimum it was held to, and why it failed', () => {
    const check = byName(
      verifyBench({ baseline: result(1000), lmcache: result(900) }, LIMITS),
      'vllm_bench.throughput',
    );
    assert.equal(check.value, 900);
    assert.equal(check.limit, 950);
    assert.match(
      check.detail!,
      /900 tok\/s, 90% of the baseline's 1000 tok\/s, below the allowed 5% slowdown \(minimum 950 tok\/s\)/,
    );
  });

  it('fails instead of passing vacuously when the baseline throughput is zero', () => {
    const check = byName(verifyBench({ baseline: result(0), lmcache: result(0) }, LIMITS), 'vllm_bench.throughput');
    assert.equal(check.passed, false);
    assert.equal(check.limit, null);
    assert.match(check.detail!, /baseline throughput is 0 tok\/s/);
  });

  it('fails the checks of a missing run, naming it', () => {
    const checks = verifyBench({ lmcache: fixture('lmcache') }, LIMITS);
    for (const name of [
      'vllm_bench.baseline.completed',
      'vllm_bench.baseline.total_input_tokens',
      'vllm_bench.throughput',
    ]) {
      const check = byName(checks, name);
      assert.equal(check.passed, false, name);
      assert.match(check.detail!, /baseline/, name);
    }
    assert.equal(byName(checks, 'vllm_bench.lmcache.completed').passed, true);
    const noLmcache = verifyBench({ baseline: fixture('baseline') }, LIMITS);
    assert.match(byName(noLmcache, 'vllm_bench.lmcache.completed').detail!, /LMCache run/);
    assert.match(byName(noLmcache, 'vllm_bench.throughput').detail!, /No LMCache result/);
    assert.equal(verifyBench({}, LIMITS).filter((c) => c.passed).length, 0);
  });

  it('fails when requests failed, quoting the first error vllm saved', () => {
    const checks = verifyBench({ baseline: fixture('baseline'), lmcache: fixture('lmcache-two-failed') }, LIMITS);
    const completed = byName(checks, 'vllm_bench.lmcache.completed');
    assert.equal(completed.passed, false);
    assert.equal(completed.value, 18);
    assert.match(
      completed.detail!,
      /18 of 20 LMCache requests completed \(2 failed\); first error: aiohttp\.client_exceptions\.ServerDisconnectedError: Server disconnected\.$/,
    );
    const tokens = byName(checks, 'vllm_bench.lmcache.total_input_tokens');
    assert.equal(tokens.passed, false);
    assert.match(
      tokens.detail!,
      /36000 input tokens, not 20 × 2000 = 40000\.$/,
      'two requests missing is no per-request difference',
    );
  });

  it('explains a near miss that the chat template causes: the same difference on every request', () => {
    // The real tool with a tokenizer that adds no special tokens, against a server whose chat template adds 3.
    const checks = verifyBench({ baseline: fixture('baseline-chat-template'), lmcache: fixture('lmcache') }, LIMITS);
    const tokens = byName(checks, 'vllm_bench.baseline.total_input_tokens');
    assert.equal(tokens.passed, false, 'the check stays the reference one');
    assert.equal(tokens.value, 40060);
    assert.match(
      tokens.detail!,
      /consistent with every request being \+3 tokens against RANDOM_INPUT_LEN=2000 \(as a chat template adds/,
    );
    const detailed = { ...result(1000), total_input_tokens: 40060, input_lens: new Array(20).fill(2003) };
    assert.match(
      byName(
        verifyBench({ baseline: detailed, lmcache: result(1000) }, LIMITS),
        'vllm_bench.baseline.total_input_tokens',
      ).detail!,
      /Every request was \+3 tokens/,
    );
    const uneven = { ...result(1000), total_input_tokens: 40060, input_lens: [...new Array(19).fill(2000), 2060] };
    assert.doesNotMatch(
      byName(verifyBench({ baseline: uneven, lmcache: result(1000) }, LIMITS), 'vllm_bench.baseline.total_input_tokens')
        .detail!,
      /every request/i,
    );
  });
});
