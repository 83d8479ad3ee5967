import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { renderComparisonTable } from '../../src/report/markdown.js';
import { OutputParseError } from '../../src/verification/errors.js';
import {
  comparisonRows,
  parseLongDocQaStdout,
  verifyLongDocQa,
  type LongDocQaResult,
} from '../../src/verification/long-doc-qa.js';
import type { Check } from '../../src/report/types.js';

/** Shaped like long_doc_qa.py --json-output stdout: coloured summary lines, then one JSON line. */
function stdout(name: string): string {
  return readFileSync(new URL(`../../../test/fixtures/long_doc_qa/${name}_stdout.txt`, import.meta.url), 'utf8');
}

const LIMITS = { maxTtft: 0.22, maxQueryRoundTime: 0.58 };

function byName(checks: Check[], name: string): Check {
  const check = checks.find((c) => c.name === name);
  assert.ok(check, `no check named ${name}`);
  return check;
}

function result(ttft: number, round: number, warmup = 2): LongDocQaResult {
  return { query_ttft_per_prompt: ttft, query_round_time_per_prompt: round, warmup_round_time_per_prompt: warmup };
}

function rejects(text: string, message: RegExp): void {
  assert.throws(
    () => parseLongDocQaStdout(text, 'long_doc_qa/lmcache_output'),
    (err: unknown) =>
      err instanceof OutputParseError && /long_doc_qa\/lmcache_output/.test(err.message) && message.test(err.message),
  );
}

describe('parseLongDocQaStdout', () => {
  it('reads the JSON summary on the last line, past coloured lines and trailing blanks', () => {
    const parsed = parseLongDocQaStdout(`${stdout('lmcache')}\n\n`, 'lmcache');
    assert.equal(parsed.query_ttft_per_prompt, 0.1527);
    assert.equal(parsed.query_round_time_per_prompt, 0.445);
    assert.ok(Math.abs(parsed.warmup_round_time_per_prompt - 2.11723) < 1e-5);
    assert.equal(parsed.num_documents, 30);
  });

  it('rejects output cut short before the summary, quoting the last line', () => {
    rejects(stdout('truncated'), /last line is not JSON.*Query round successful prompt count: 60/);
  });

  it('rejects a NaN TTFT, which Python prints when no query succeeded', () => {
    rejects(stdout('no_successful_requests'), /"query_ttft_per_prompt" is NaN, not a finite number/);
  });

  it('rejects a summary missing a field, a non-object, half a line and empty output', () => {
    rejects(
      '{"query_ttft_per_prompt": 0.1, "query_round_time_per_prompt": 0.4}',
      /"warmup_round_time_per_prompt" is missing/,
    );
    rejects(
      '{"query_ttft_per_prompt": 0.1, "query_round_time_per_prompt": "0.4", "warmup_round_time_per_prompt": 2}',
      /"query_round_time_per_prompt" is the string/,
    );
    rejects('[0.1, 0.4, 2]', /not a JSON object/);
    rejects('{"query_ttft_per_prompt": 0.1, "query_round_ti', /last line is not JSON/);
    rejects(' \n\n', /stdout is empty/);
  });
});

describe('verifyLongDocQa', () => {
  it('passes LMCache within both limits', () => {
    const results = {
      baseline: parseLongDocQaStdout(stdout('baseline'), 'baseline'),
      lmcache: parseLongDocQaStdout(stdout('lmcache'), 'lmcache'),
    };
    const checks = verifyLongDocQa(results, LIMITS);
    assert.deepEqual(
      checks.map((c) => c.name),
      ['long_doc_qa.query_ttft_per_prompt', 'long_doc_qa.query_round_time_per_prompt'],
    );
    assert.ok(
      checks.every((c) => c.passed),
      JSON.stringify(checks),
    );
    const ttft = byName(checks, 'long_doc_qa.query_ttft_per_prompt');
    assert.equal(ttft.value, 0.1527);
    assert.equal(ttft.limit, 0.22);
    assert.match(ttft.detail!, /0\.1527 s, within the 0\.22 s limit \(baseline 1\.28 s\)/);
  });

  it('passes exactly at the limits and fails just above them', () => {
    assert.ok(verifyLongDocQa({ lmcache: result(0.22, 0.58) }, LIMITS).every((c) => c.passed));
    const over = verifyLongDocQa({ lmcache: result(0.2201, 0.5801) }, LIMITS);
    assert.ok(over.every((c) => !c.passed));
    assert.match(byName(over, 'long_doc_qa.query_round_time_per_prompt').detail!, /0\.5801 s, over the 0\.58 s limit/);
  });

  it('fails when the LMCache result is missing, even with a baseline', () => {
    const checks = verifyLongDocQa({ baseline: result(1.2, 2) }, LIMITS);
    assert.ok(checks.every((c) => !c.passed && c.value === null));
    assert.match(checks[0]!.detail!, /No LMCache result/);
  });

  it('fails a zero TTFT, which long_doc_qa reports for requests without output', () => {
    const check = byName(verifyLongDocQa({ lmcache: result(0, 0.3) }, LIMITS), 'long_doc_qa.query_ttft_per_prompt');
    assert.equal(check.passed, false);
    assert.match(check.detail!, /no output was timed/);
  });
});

describe('comparison rows and their table', () => {
  it('puts baseline and LMCache side by side with the speedup', () => {
    const rows = comparisonRows({ baseline: result(1.2795, 2.025, 2.07), lmcache: result(0.1527, 0.445, 2.117) });
    const table = renderComparisonTable(rows);
    const lines = table.split('\n');
    assert.equal(lines[0], '| Metric | Baseline | LMCache | Speedup |');
    assert.equal(lines[2], '| Query TTFT per prompt (s) | 1.28 | 0.1527 | 8.38× |');
    assert.equal(lines[3], '| Query round time per prompt (s) | 2.025 | 0.445 | 4.55× |');
    assert.equal(lines.length, 5);
  });

  it('shows a dash where a run is missing', () => {
    const table = renderComparisonTable(comparisonRows({ lmcache: result(0.1527, 0.445) }));
    assert.match(table, /\| Query TTFT per prompt \(s\) \| — \| 0\.1527 \| — \|/);
  });

  it('keeps the measured numbers as data, one row per metric', () => {
    const rows = comparisonRows({ baseline: result(1.2795, 2.025, 2.07), lmcache: result(0.1527, 0.445, 2.117) });
    assert.deepEqual(rows[0], { metric: 'query_ttft_per_prompt', baseline: 1.2795, lmcache: 0.1527 });
    assert.equal(rows.length, 3);
    const lmcacheOnly = comparisonRows({ lmcache: result(0.1, 0.4) })[0];
    assert.deepEqual(lmcacheOnly, { metric: 'query_ttft_per_prompt', baseline: undefined, lmcache: 0.1 });
  });
});
