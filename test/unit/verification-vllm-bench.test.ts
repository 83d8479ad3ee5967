import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { OutputParseError } from '../../src/verification/errors.js';
import type { Check } from '../../src/report/types.js';
import {
  parseBenchResult,
  verifyBench,
  withRepeatsVerified,
  type BenchResult,
  type BenchRun,
} from '../../src/verification/vllm-bench.js';

/** Saved by the real `vllm bench serve` (PyPI vllm 0.33) against the sim: 20 random prompts of 2000 tokens (see README there). */
function fixture(name: string): BenchResult {
  const path = `vllm_bench/${name}.json`;
  return parseBenchResult(readFileSync(new URL(`../../../test/fixtures/${path}`, import.meta.url), 'utf8'), path);
}

const LIMITS = { numPrompts: 20, randomInputLen: 2000, maxSlowdownPercent: 5, tokenCountTolerancePercent: 1 };
/** Exact token counts, so that a difference of a few tokens per request fails. */
const EXACT = { ...LIMITS, tokenCountTolerancePercent: 0 };

function byName(checks: Check[], name: string): Check {
  const check = checks.find((c) => c.name === name);
  assert.ok(check, `no check named ${name}`);
  return check;
}

/** A run whose server's chat template adds `chatFrameTokens` to each prompt. */
function run(result: BenchResult, chatFrameTokens = 0): BenchRun {
  return { result, chatFrameTokens };
}

function result(total_token_throughput: number): BenchResult {
  return { completed: 20, total_input_tokens: 40000, total_token_throughput };
}

function throughputOf(baseline: number, lmcache: number): Check {
  return byName(
    verifyBench({ baseline: run(result(baseline)), lmcache: run(result(lmcache)) }, LIMITS),
    'vllm_bench.throughput',
  );
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
    // The old sim's tokenizer added its frame as special tokens, which the tool subtracts: frame 0.
    const checks = verifyBench({ baseline: run(fixture('baseline')), lmcache: run(fixture('lmcache')) }, EXACT);
    assert.deepEqual(
      checks.map((c) => c.name),
      [
        'vllm_bench.baseline.completed',
        'vllm_bench.baseline.total_input_tokens',
        'vllm_bench.lmcache.completed',
        'vllm_bench.lmcache.total_input_tokens',
        'vllm_bench.same_input_tokens',
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
    assert.equal(throughputOf(1000, 950).passed, true);
    assert.equal(throughputOf(1000, 949.99).passed, false);
    // 12345.67 × 0.95 is 11728.3865 to a person, a rounding error away from it in floating point.
    assert.equal(throughputOf(12345.67, 11728.3865).passed, true);
  });

  it('reports the value and the minimum it was held to, and why it failed', () => {
    const check = throughputOf(1000, 900);
    assert.equal(check.value, 900);
    assert.equal(check.limit, 950);
    assert.match(
      check.detail!,
      /900 tok\/s, 90% of the baseline's 1000 tok\/s, below the allowed 5% slowdown \(minimum 950 tok\/s\)/,
    );
  });

  it('fails instead of passing vacuously when the baseline throughput is zero', () => {
    const check = throughputOf(0, 0);
    assert.equal(check.passed, false);
    assert.equal(check.limit, null);
    assert.match(check.detail!, /baseline throughput is 0 tok\/s/);
  });

  it('fails the checks of a missing run, naming it', () => {
    const checks = verifyBench({ lmcache: run(fixture('lmcache')) }, LIMITS);
    for (const name of [
      'vllm_bench.baseline.completed',
      'vllm_bench.baseline.total_input_tokens',
      'vllm_bench.same_input_tokens',
      'vllm_bench.throughput',
    ]) {
      const check = byName(checks, name);
      assert.equal(check.passed, false, name);
      assert.match(check.detail!, /baseline/, name);
    }
    assert.equal(byName(checks, 'vllm_bench.lmcache.completed').passed, true);
    const noLmcache = verifyBench({ baseline: run(fixture('baseline')) }, LIMITS);
    assert.match(byName(noLmcache, 'vllm_bench.lmcache.completed').detail!, /LMCache run/);
    assert.match(byName(noLmcache, 'vllm_bench.throughput').detail!, /No LMCache result/);
    assert.equal(verifyBench({}, LIMITS).filter((c) => c.passed).length, 0);
  });

  it('fails when requests failed, quoting the first error vllm saved', () => {
    const checks = verifyBench(
      { baseline: run(fixture('baseline')), lmcache: run(fixture('lmcache-two-failed')) },
      LIMITS,
    );
    const completed = byName(checks, 'vllm_bench.lmcache.completed');
    assert.equal(completed.passed, false);
    assert.equal(completed.value, 18);
    assert.match(
      completed.detail!,
      /18 of 20 LMCache requests completed \(2 failed\); first error: aiohttp\.client_exceptions\.ServerDisconnectedError: Server disconnected\.$/,
    );
    const tokens = byName(checks, 'vllm_bench.lmcache.total_input_tokens');
    assert.equal(tokens.passed, false);
    assert.equal(
      tokens.detail,
      'The LMCache run sent 36000 input tokens; expected 20 × (2000 + 0-token chat frame) = 40000 ± 1 % (400), ' +
        '+0 tokens per completed request (18 completed).',
      'two requests missing is no per-request difference',
    );
    const same = byName(checks, 'vllm_bench.same_input_tokens');
    assert.equal(same.passed, false);
    assert.match(
      same.detail!,
      /36000 input tokens, the baseline 40000 \(-4000\).*the baseline completed 20 requests, LMCache 18/,
    );
  });

  it("expects the chat frame measured from the server: a real model's count passes, the same count without the frame fails", () => {
    // The real tool with a tokenizer that adds no special tokens (as Qwen3's), against a server whose chat
    // template adds 3 tokens to each request (the current sim).
    const framed = verifyBench(
      {
        baseline: run(fixture('baseline-chat-template'), 3),
        lmcache: run({ ...result(1000), total_input_tokens: 40060 }, 3),
      },
      EXACT,
    );
    const tokens = byName(framed, 'vllm_bench.baseline.total_input_tokens');
    assert.equal(tokens.passed, true, tokens.detail);
    assert.deepEqual([tokens.value, tokens.limit], [40060, 40060]);
    assert.equal(
      tokens.detail,
      'The baseline run sent 40060 input tokens, as expected: 20 × (2000 + 3-token chat frame) = 40060 ± 0 % (0), +0 tokens per request.',
    );
    assert.equal(byName(framed, 'vllm_bench.same_input_tokens').passed, true);

    // The reference's check, NUM_PROMPTS × RANDOM_INPUT_LEN exactly, is what a frame of 0 asks: it fails.
    const unframed = byName(
      verifyBench({ baseline: run(fixture('baseline-chat-template'), 0), lmcache: run(fixture('lmcache')) }, EXACT),
      'vllm_bench.baseline.total_input_tokens',
    );
    assert.equal(unframed.passed, false);
    assert.match(
      unframed.detail!,
      /40060 input tokens; expected 20 × \(2000 \+ 0-token chat frame\) = 40000 ± 0 % \(0\), \+3 tokens per request: the tool's tokenizer and the server count the prompts differently/,
    );
  });

  it('holds the count to the tolerance: at its edge passes, one token past it fails, either way', () => {
    // 20 × (2000 + 9) = 40180; 1 % of it is 401.8 tokens.
    const tokensCheck = (total: number) =>
      byName(
        verifyBench({ baseline: run({ ...result(1000), total_input_tokens: total }, 9) }, LIMITS),
        'vllm_bench.baseline.total_input_tokens',
      );
    assert.equal(tokensCheck(40180 + 401).passed, true);
    assert.equal(tokensCheck(40180 - 401).passed, true);
    assert.equal(tokensCheck(40180 + 402).passed, false);
    assert.equal(tokensCheck(40180 - 402).passed, false);
    assert.match(
      tokensCheck(40180 + 402).detail!,
      /; expected 20 × \(2000 \+ 9-token chat frame\) = 40180 ± 1 % \(401\.8\), \+20\.1 tokens per request/,
    );
  });

  it('fails when the two sides count the same prompts differently, even within the tolerance', () => {
    const checks = verifyBench(
      { baseline: run(fixture('baseline-chat-template'), 3), lmcache: run(fixture('lmcache'), 3) },
      LIMITS,
    );
    assert.equal(byName(checks, 'vllm_bench.baseline.total_input_tokens').passed, true);
    assert.equal(byName(checks, 'vllm_bench.lmcache.total_input_tokens').passed, true, '40000 is within 1 % of 40060');
    const same = byName(checks, 'vllm_bench.same_input_tokens');
    assert.equal(same.passed, false);
    assert.deepEqual([same.value, same.limit], [40000, 40060]);
    assert.match(same.detail!, /the two servers count the same prompts differently\.$/);
    const frames = verifyBench(
      { baseline: run(fixture('baseline-chat-template'), 3), lmcache: run(fixture('lmcache'), 0) },
      LIMITS,
    );
    assert.match(byName(frames, 'vllm_bench.same_input_tokens').detail!, /their chat frames are 3 and 0 tokens\.$/);
  });
});

describe('withRepeatsVerified', () => {
  const good = { baseline: run(result(1000)), lmcache: run(result(990)) };

  it('keeps the first pair’s checks when every repeat measured the same workload', () => {
    const first = verifyBench(good, LIMITS);
    assert.deepEqual(withRepeatsVerified(first, [good, good], LIMITS), first);
  });

  it('fails a completion check that a repeat pair failed, naming the repeat', () => {
    const short = { ...good, lmcache: run({ ...result(990), completed: 18, total_input_tokens: 36000 }) };
    const checks = withRepeatsVerified(verifyBench(good, LIMITS), [good, short], LIMITS);
    const completed = byName(checks, 'vllm_bench.lmcache.completed');
    assert.equal(completed.passed, false);
    assert.match(completed.detail!, /^Grey-zone repeat 2: 18 of 20 LMCache requests completed/);
    assert.equal(byName(checks, 'vllm_bench.baseline.completed').passed, true);
    // The throughput check stays the caller's (the median's), whatever a repeat's own ratio was.
    assert.deepEqual(
      byName(checks, 'vllm_bench.throughput'),
      byName(verifyBench(good, LIMITS), 'vllm_bench.throughput'),
    );
  });
});
