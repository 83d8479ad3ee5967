/** Repeats near the limit and the median's decision. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideByMedian, nearLimit, needsRepeat } from '../../src/bisect/noise.js';
import type { FigurePredicate } from '../../src/bisect/predicate.js';

const ttft: FigurePredicate = { figure: 'queryTtft', op: '>', limit: 0.15 };

/** The workflow's loop: probe, and probe again while needsRepeat says so; returns the samples taken. */
function probeUntilDecided(measurements: number[], maxRepeats: number, noisePercent = 5): number[] {
  const samples = [measurements[0]!];
  while (needsRepeat(ttft, samples, noisePercent, maxRepeats)) samples.push(measurements[samples.length]!);
  return samples;
}

describe('needsRepeat', () => {
  it('repeats a figure whose median is within the band of the limit, up to maxRepeats samples', () => {
    assert.deepEqual(probeUntilDecided([0.147, 0.152, 0.155, 0.2], 3), [0.147, 0.152, 0.155]);
    assert.deepEqual(probeUntilDecided([0.147, 0.152, 0.155, 0.2], 1), [0.147]);
    // Far from the limit: decided by one run.
    assert.deepEqual(probeUntilDecided([0.31, 0.31], 3), [0.31]);
    assert.deepEqual(probeUntilDecided([0.02, 0.02], 3), [0.02]);
    // Two samples whose median leaves the band stop there.
    assert.deepEqual(probeUntilDecided([0.143, 0.2, 0.2], 3), [0.143, 0.2]);
  });

  it('takes the band relative to the limit, both edges included, on either side', () => {
    assert.equal(nearLimit(ttft, 0.1425, 5), true);
    assert.equal(nearLimit(ttft, 0.1575, 5), true);
    assert.equal(nearLimit(ttft, 0.142, 5), false);
    assert.equal(nearLimit(ttft, 0.158, 5), false);
    assert.equal(nearLimit(ttft, 0.149, 0), false);
    assert.equal(nearLimit({ figure: 'throughputRatio', op: '<', limit: 0.9 }, 0.88, 5), true);
  });

  it('never repeats a check predicate, or before any sample', () => {
    assert.equal(needsRepeat({ check: 'long_doc_qa.query_ttft_per_prompt' }, [0.15], 5, 3), false);
    assert.equal(needsRepeat(ttft, [], 5, 3), false);
  });
});

describe('decideByMedian', () => {
  it('decides by the median and says why the commit was repeated', () => {
    assert.deepEqual(decideByMedian(ttft, [0.147, 0.152, 0.155], 5), {
      outcome: 'bad',
      median: 0.152,
      repeated: 'queryTtft 0.147 s within 5 % of the 0.15 limit; 3 samples (0.147, 0.152, 0.155), median 0.152 s',
      reason: 'queryTtft 0.147 s within 5 % of the 0.15 limit; 3 samples (0.147, 0.152, 0.155), median 0.152 s → bad',
    });
    // One high outlier among three does not make the commit bad.
    const decided = decideByMedian(ttft, [0.148, 0.3, 0.146], 5);
    assert.equal(decided.outcome, 'good');
    assert.equal(decided.median, 0.148);
    assert.equal(decideByMedian(ttft, [0.148, 0.153], 5).median, 0.1505);
  });

  it('reads a single sample alone, without a repeat note', () => {
    assert.deepEqual(decideByMedian(ttft, [0.31], 5), {
      outcome: 'bad',
      median: 0.31,
      reason: 'queryTtft 0.31 s > 0.15 → bad',
    });
    const ratio = decideByMedian({ figure: 'throughputRatio', op: '<', limit: 0.9 }, [0.95], 5);
    assert.deepEqual(ratio, { outcome: 'good', median: 0.95, reason: 'throughputRatio 0.95 ≥ 0.9 → good' });
  });
});
