/** Tools' progress read from their real output (test/fixtures/tool_progress: logs of sim runs), and its rate limit. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  benchProgress,
  lmEvalProgress,
  longDocQaProgress,
  Throttled,
  type ProgressParser,
} from '../../src/verification/tool-progress.js';

/** As run-tool.ts splits the stream: tqdm redraws with carriage returns, each one a line. */
function progressIn(file: string, parser: ProgressParser): string[] {
  const text = readFileSync(new URL(`../../../test/fixtures/tool_progress/${file}`, import.meta.url), 'utf8');
  return text
    .split(/[\r\n]+/)
    .flatMap((line) => parser(line) ?? [])
    .map((progress) => progress.text);
}

describe('tool progress', () => {
  it("counts lm_eval's samples from its Requesting API bar, not its context-building bar", () => {
    const seen = progressIn('lm_eval-first_run.log', lmEvalProgress);
    assert.equal(seen[0], '0/10 samples');
    assert.equal(seen.at(-1), '10/10 samples');
    assert.ok(
      seen.every((text) => /^\d+\/10 samples$/.test(text)),
      seen.join(', '),
    );
  });

  it("counts vllm bench serve's completed requests from its bar, and the builtin driver's", () => {
    const upstream = progressIn('vllm-bench-serve-baseline.log', benchProgress);
    assert.equal(upstream[0], '0/5 requests completed');
    assert.equal(upstream.at(-1), '5/5 requests completed');
    const builtin = progressIn('bench-serve-driver-baseline.log', benchProgress);
    assert.equal(builtin.length, 20);
    assert.equal(builtin.at(-1), '20/20 requests completed');
  });

  it("follows long doc QA's rounds and documents", () => {
    const seen = progressIn('long-doc-qa-driver-baseline.log', longDocQaProgress);
    assert.equal(seen[0], 'prewarmup round: document 1/5');
    assert.ok(seen.includes('warmup round: document 12/12'), seen.join(', '));
    assert.equal(seen.at(-1), 'query round: document 24/24');
  });

  it('lets a change through at most once per interval, and the latest one when the interval is over', () => {
    const throttled = new Throttled<string>(10_000);
    throttled.offer('1/40');
    assert.equal(throttled.current(0), '1/40');
    throttled.offer('2/40');
    throttled.offer('3/40');
    assert.equal(throttled.current(9_999), '1/40');
    assert.equal(throttled.current(10_000), '3/40');
    assert.equal(throttled.current(25_000), '3/40');
  });
});
