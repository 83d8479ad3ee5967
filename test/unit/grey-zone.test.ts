import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bootstrapMedianInterval,
  describeSamples,
  latencyFigure,
  inGreyZone,
  median,
  medianAbsoluteDeviation,
  passes,
  ratioFigure,
  repeatReason,
  sampleUntilDecided,
  suggestedGreyZonePercent,
  summarize,
} from '../../src/verification/grey-zone.js';
import { normalDraw, seededRandom } from '../../src/sim/seeded-random.js';

const RULE = { greyZonePercent: 2, maxRepeats: 4 };

describe('median and spread', () => {
  it('takes the middle value, or the mean of the two middle values', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([7]), 7);
    assert.throws(() => median([]), RangeError);
  });

  it('measures spread by the median absolute deviation, which one wild value does not move', () => {
    assert.equal(medianAbsoluteDeviation([10, 11, 9, 10, 10]), 0);
    assert.equal(medianAbsoluteDeviation([1, 2, 3, 4, 100]), 1);
  });
});

describe('bootstrap interval of the median', () => {
  it('is reproducible from its seed and brackets the median', () => {
    const values = [95.1, 96.4, 94.2, 95.8, 95.5];
    const interval = bootstrapMedianInterval(values, 7);
    assert.deepEqual(bootstrapMedianInterval(values, 7), interval);
    assert.ok(interval[0] <= median(values) && median(values) <= interval[1], JSON.stringify(interval));
    assert.ok(interval[0] >= 94.2 && interval[1] <= 96.4);
  });

  it('is one point for one sample, and wider for samples spread wider', () => {
    assert.deepEqual(bootstrapMedianInterval([0.2], 1), [0.2, 0.2]);
    const width = (values: number[]) => {
      const [low, high] = bootstrapMedianInterval(values, 3);
      return high - low;
    };
    assert.ok(width([90, 95, 100, 105, 110]) > width([99, 99.5, 100, 100.5, 101]));
  });
});

describe('the grey zone', () => {
  const ratio = ratioFigure(95, RULE);

  it('repeats a first ratio within 2 points of the limit, either side, and says why', () => {
    assert.equal(repeatReason(ratio, [95.6], RULE), 'first ratio 95.6 %, within 2 points of the 95 % limit');
    assert.match(repeatReason(ratio, [93], RULE)!, /first ratio 93 %/);
    assert.equal(repeatReason(ratio, [97.01], RULE), null);
    assert.equal(repeatReason(ratio, [92.9], RULE), null);
  });

  it('repeats while the median stays in the zone, and stops after MAX_REPEATS more samples', () => {
    assert.match(repeatReason(ratio, [95.6, 94.4], RULE)!, /^median ratio of 2 95 %/);
    assert.equal(repeatReason(ratio, [95.6, 99, 99], RULE), null);
    assert.equal(repeatReason(ratio, [95.5, 94.5, 95.5, 94.5, 95], RULE), null);
    assert.notEqual(repeatReason(ratio, [95.5, 94.5, 95.5, 94.5], RULE), null);
  });

  it('stops once more samples could not change the verdict: most of the allowed five on one side', () => {
    // Three of at most five below 95 %: any median of four or five samples is below it too.
    assert.equal(repeatReason(ratio, [94.5, 94, 94.8], RULE), null);
    assert.equal(repeatReason(ratio, [95.5, 96, 95.2], RULE), null);
    assert.notEqual(repeatReason(ratio, [94.5, 94, 95.8], RULE), null);
    assert.notEqual(repeatReason(ratio, [94.5, 94], RULE), null);
    // With two repeats allowed, two of three on one side decide.
    assert.equal(repeatReason(ratio, [94.5, 94], { greyZonePercent: 2, maxRepeats: 2 }), null);
  });

  it('decides as measuring every allowed sample would, on 2000 random sequences', () => {
    const random = seededRandom(19);
    for (let trial = 0; trial < 2000; trial++) {
      const centre = 92 + 6 * random();
      const sequence = Array.from({ length: 5 }, () => centre + 3 * normalDraw(random));
      // Without the early stop: repeat while the median is in the zone, until the repeats are spent.
      let full = 1;
      while (full < sequence.length && inGreyZone(ratio, median(sequence.slice(0, full)))) full++;
      let early = 1;
      while (repeatReason(ratio, sequence.slice(0, early), RULE) !== null) early++;
      assert.ok(early <= full, `${sequence.join(', ')}`);
      assert.equal(
        passes(ratio, median(sequence.slice(0, early))),
        passes(ratio, median(sequence.slice(0, full))),
        `${sequence.join(', ')}: ${early} against ${full} samples`,
      );
    }
  });

  it('never repeats with MAX_REPEATS=0: the single-sample rule', () => {
    assert.equal(repeatReason(ratio, [95], { greyZonePercent: 2, maxRepeats: 0 }), null);
  });

  it('gives latencies the same relative margin around their limit', () => {
    const ttft = latencyFigure('query TTFT', 0.2, RULE);
    assert.ok(Math.abs(ttft.margin - 0.004) < 1e-12);
    assert.match(repeatReason(ttft, [0.203], RULE)!, /first query TTFT 0.203 s, within 2 % \(0.004 s\) of the 0.2 s/);
    assert.equal(repeatReason(ttft, [0.21], RULE), null);
  });
});

describe('sampleUntilDecided', () => {
  const ratio = ratioFigure(95, RULE);
  const figures = [{ figure: ratio, of: (sample: number) => sample }];
  const measurer = (values: number[]) => {
    const asked: number[] = [];
    return {
      asked,
      again: async (repeat: number) => {
        asked.push(repeat);
        return { sample: values[repeat - 1], seconds: 2 };
      },
    };
  };

  it('measures nothing more outside the grey zone', async () => {
    const { asked, again } = measurer([]);
    const sampled = await sampleUntilDecided({ sample: 99, seconds: 3 }, figures, RULE, again);
    assert.deepEqual(sampled, { samples: [99], seconds: [3], reasons: [] });
    assert.deepEqual(asked, []);
  });

  it('measures again until the median leaves the zone, numbering the repeats', async () => {
    const { asked, again } = measurer([94, 99, 99.5]);
    const sampled = await sampleUntilDecided({ sample: 95.6, seconds: 3 }, figures, RULE, again);
    // Medians 94.8, 95.6 (in the zone), then 97.3 (out).
    assert.deepEqual(sampled.samples, [95.6, 94, 99, 99.5]);
    assert.deepEqual(sampled.seconds, [3, 2, 2, 2]);
    assert.deepEqual(asked, [1, 2, 3]);
    assert.equal(sampled.reasons.length, 3);
  });

  it('stops at 1 + MAX_REPEATS samples in a zone it never leaves', async () => {
    // Alternating sides of the limit, so the verdict stays open until the repeats are spent.
    const { asked, again } = measurer([94.5, 95.5, 94.5, 95.5, 95, 95]);
    const sampled = await sampleUntilDecided({ sample: 95.2, seconds: 1 }, figures, RULE, again);
    assert.equal(sampled.samples.length, 5);
    assert.deepEqual(asked, [1, 2, 3, 4]);
  });
});

describe('summaries', () => {
  it('keep the single-sample verdict beside the median verdict, and describe the repeats', () => {
    const ratio = ratioFigure(95, RULE);
    const summary = summarize(ratio, [94.5, 96, 95.5], ['first ratio 94.5 %, within 2 points'], [3, 3, 3], 11);
    assert.equal(summary.firstPassed, false);
    assert.equal(summary.passed, true);
    assert.equal(summary.median, 95.5);
    assert.match(
      describeSamples(summary),
      /^3 samples of the ratio \(94.5, 96, 95.5 %\): median 95.5 %, 90 % interval/,
    );
  });

  it('suggest a wider grey zone only for a spread larger than the zone', () => {
    assert.equal(suggestedGreyZonePercent(1.5, 2), null);
    assert.equal(suggestedGreyZonePercent(2.4, 2), 5);
  });
});
