/** The bisect's k-way split and range bookkeeping, exhaustively over small ranges. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  candidatesLeft,
  initialRange,
  isDone,
  narrow,
  probePoints,
  roundsBound,
  type RangeState,
} from '../../src/bisect/range.js';

/** Bisects n candidates whose first bad is `culprit`, k probes a round; every round's invariants asserted. */
function bisect(n: number, culprit: number, k: number): { state: RangeState; rounds: number; probes: number } {
  let state = initialRange(n);
  let rounds = 0;
  let probes = 0;
  while (!isDone(state)) {
    const points = probePoints(state, k);
    const where = `n=${n} culprit=${culprit} k=${k} round ${rounds + 1}`;
    assert.ok(points.length >= 1 && points.length <= k, `${where}: ${points.length} probes`);
    // The parts between the range's ends and the probes: all non-empty, sizes differing by at most one.
    const bounds = [state.lastGood, ...points, state.firstBad];
    const parts = bounds.slice(1).map((b, i) => b - bounds[i]!);
    assert.ok(Math.min(...parts) >= 1, `${where}: a probe outside the range or twice: ${points.join(',')}`);
    assert.ok(Math.max(...parts) - Math.min(...parts) <= 1, `${where}: uneven parts ${parts.join(',')}`);
    const next = narrow(
      state,
      points.map((index) => ({ index, bad: index >= culprit })),
    );
    assert.deepEqual(next.nonMonotonic, [], where);
    assert.ok(candidatesLeft(next.state) < candidatesLeft(state), `${where}: no progress`);
    state = next.state;
    rounds++;
    probes += points.length;
  }
  return { state, rounds, probes };
}

describe('k-way bisect over candidates 0..n-1', () => {
  it('finds every culprit for n 1..100 and k 1..4 within ⌈log_(k+1) n⌉ rounds', () => {
    for (let k = 1; k <= 4; k++) {
      for (let n = 1; n <= 100; n++) {
        let worst = 0;
        for (let culprit = 0; culprit < n; culprit++) {
          const { state, rounds } = bisect(n, culprit, k);
          assert.deepEqual(state, { lastGood: culprit - 1, firstBad: culprit }, `n=${n} culprit=${culprit} k=${k}`);
          assert.ok(rounds <= roundsBound(n, k), `n=${n} culprit=${culprit} k=${k}: ${rounds} rounds`);
          worst = Math.max(worst, rounds);
        }
        // The bound is what the split achieves, not a loose ceiling: some culprit needs every round of it.
        assert.equal(worst, roundsBound(n, k), `n=${n} k=${k}`);
      }
    }
  });

  it('with k=1 takes at most ⌈log2 n⌉ probes', () => {
    for (let n = 1; n <= 100; n++) {
      for (let culprit = 0; culprit < n; culprit++) {
        assert.ok(bisect(n, culprit, 1).probes <= Math.ceil(Math.log2(n)), `n=${n} culprit=${culprit}`);
      }
    }
  });

  it("takes the issue's figures: 64 commits in 6 rounds one at a time, 3 rounds with 3 probes", () => {
    assert.equal(roundsBound(64, 1), 6);
    assert.equal(roundsBound(64, 3), 3);
    assert.equal(roundsBound(12, 1), 4);
    assert.equal(roundsBound(65, 3), 4);
    assert.equal(roundsBound(1, 4), 0);
  });
});

describe('probePoints', () => {
  it('spreads k probes evenly and uses fewer when the gap is small', () => {
    assert.deepEqual(probePoints({ lastGood: -1, firstBad: 11 }, 1), [5]);
    assert.deepEqual(probePoints({ lastGood: -1, firstBad: 11 }, 3), [2, 5, 8]);
    assert.deepEqual(probePoints({ lastGood: 3, firstBad: 6 }, 4), [4, 5]);
    assert.deepEqual(probePoints({ lastGood: 4, firstBad: 5 }, 2), []);
  });

  it('refuses a k that is not a whole number ≥ 1, and an empty candidate list', () => {
    assert.throws(() => probePoints({ lastGood: -1, firstBad: 9 }, 0), /probes per round .* got 0/);
    assert.throws(() => probePoints({ lastGood: -1, firstBad: 9 }, 1.5), /got 1.5/);
    assert.throws(() => initialRange(0), /at least one candidate commit, got 0/);
  });
});

describe('narrow', () => {
  const state = { lastGood: -1, firstBad: 11 };

  it('keeps the part where good turns bad, whatever order the results come in', () => {
    const results = [
      { index: 8, bad: true },
      { index: 2, bad: false },
      { index: 5, bad: true },
    ];
    assert.deepEqual(narrow(state, results), { state: { lastGood: 2, firstBad: 5 }, nonMonotonic: [] });
    assert.deepEqual(narrow(state, []), { state, nonMonotonic: [] });
  });

  it('reports a good above a bad instead of dropping it, and narrows by the smallest bad', () => {
    const results = [
      { index: 2, bad: true },
      { index: 5, bad: false },
      { index: 8, bad: true },
    ];
    assert.deepEqual(narrow(state, results), {
      state: { lastGood: -1, firstBad: 2 },
      nonMonotonic: [{ index: 5, bad: false }],
    });
  });

  it('reports results that contradict the known ends, and keeps the ends', () => {
    const known = { lastGood: 3, firstBad: 9 };
    const results = [
      { index: 1, bad: true },
      { index: 10, bad: false },
      { index: 2, bad: false },
      { index: 11, bad: true },
    ];
    assert.deepEqual(narrow(known, results), {
      state: known,
      nonMonotonic: [
        { index: 1, bad: true },
        { index: 10, bad: false },
      ],
    });
  });

  it('reports the same commit read both ways', () => {
    const results = [
      { index: 4, bad: false },
      { index: 4, bad: true },
    ];
    assert.deepEqual(narrow(state, results), {
      state: { lastGood: -1, firstBad: 4 },
      nonMonotonic: [{ index: 4, bad: false }],
    });
  });
});
