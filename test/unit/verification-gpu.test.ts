import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { OutputParseError } from '../../src/verification/errors.js';
import { gpuMemoryUtilizationFor, parseGpuQuery, parseTotalMemoryMib, selectGpus } from '../../src/verification/gpu.js';

function fixture(name: string): string {
  return readFileSync(new URL(`../../../test/fixtures/nvidia-smi/${name}`, import.meta.url), 'utf8');
}

/** The reference helper's rule: two GPUs with >= 70000 MiB free and <= 20 % busy. */
const RULE = { minFreeMib: 70000, maxUtilizationPercent: 20, count: 2 };

describe('parseGpuQuery', () => {
  it('reads the real H200 node output', () => {
    assert.deepEqual(parseGpuQuery(fixture('h200x2-query-free-util-index.csv')), [
      { index: 0, freeMib: 143156, utilizationPercent: 0 },
      { index: 1, freeMib: 143156, utilizationPercent: 0 },
    ]);
  });

  it('reads no GPUs from empty output', () => {
    assert.deepEqual(parseGpuQuery('\n'), []);
  });

  it('throws OutputParseError on a line it cannot hold to the rule', () => {
    for (const text of [
      fixture('synthetic-driver-not-loaded.txt'),
      '143156, [N/A], 0',
      '143156, 0',
      '143156 MiB, 0 %, 0',
      fixture('h200x2-query-header.csv'),
    ]) {
      assert.throws(
        () => parseGpuQuery(text),
        (err: unknown) => err instanceof OutputParseError && /nvidia-smi GPU query line 1/.test(err.message),
        text,
      );
    }
  });
});

describe('selectGpus', () => {
  it('takes the idle H200 pair', () => {
    assert.deepEqual(selectGpus(parseGpuQuery(fixture('h200x2-query-free-util-index.csv')), RULE), [0, 1]);
  });

  it('filters busy and low-memory GPUs and orders by free memory, most first', () => {
    const gpus = parseGpuQuery(fixture('synthetic-4gpu-mixed-query-free-util-index.csv'));
    assert.deepEqual(selectGpus(gpus, RULE), [3, 0]);
    assert.deepEqual(selectGpus(gpus, { ...RULE, count: 1 }), [3]);
  });

  it('returns undefined while fewer than the count qualify', () => {
    const gpus = parseGpuQuery(fixture('synthetic-4gpu-mixed-query-free-util-index.csv'));
    assert.equal(selectGpus(gpus, { ...RULE, count: 3 }), undefined);
    assert.equal(
      selectGpus(
        gpus.filter((g) => g.index !== 0),
        RULE,
      ),
      undefined,
    );
    assert.equal(selectGpus([], RULE), undefined);
  });

  it('takes an idle H100 80GB alone, and never the same H100 while another process holds it at 100 %', () => {
    const idle = parseGpuQuery(fixture('h100x1-query-free-util-index.csv'));
    assert.deepEqual(idle, [{ index: 0, freeMib: 81079, utilizationPercent: 0 }]);
    assert.deepEqual(selectGpus(idle, { ...RULE, count: 1 }), [0]);
    assert.equal(selectGpus(idle, RULE), undefined, 'one GPU is not a pair');

    const busy = parseGpuQuery(fixture('h100x1-busy-query-free-util-index.csv'));
    assert.deepEqual(busy, [{ index: 0, freeMib: 22883, utilizationPercent: 100 }]);
    assert.equal(selectGpus(busy, { ...RULE, count: 1 }), undefined);
    // Neither its memory nor its load alone would let it through.
    assert.equal(selectGpus(busy, { minFreeMib: 0, maxUtilizationPercent: 20, count: 1 }), undefined);
    assert.equal(selectGpus(busy, { minFreeMib: 70000, maxUtilizationPercent: 100, count: 1 }), undefined);
  });

  it('accepts a GPU exactly at the free-memory and utilization limits', () => {
    const gpus = [
      { index: 0, freeMib: 70000, utilizationPercent: 20 },
      { index: 1, freeMib: 69999, utilizationPercent: 0 },
      { index: 2, freeMib: 90000, utilizationPercent: 21 },
      { index: 3, freeMib: 70000, utilizationPercent: 0 },
    ];
    assert.deepEqual(selectGpus(gpus, RULE), [0, 3]);
  });
});

describe('GPU memory utilization', () => {
  it('reads the total memory of one GPU', () => {
    assert.equal(parseTotalMemoryMib(fixture('h200x2-query-total-i0.csv')), 143771);
  });

  it('throws OutputParseError unless there is exactly one integer', () => {
    for (const text of ['', '143771\n143771\n', '143771 MiB', fixture('synthetic-driver-not-loaded.txt')]) {
      assert.throws(() => parseTotalMemoryMib(text), OutputParseError, JSON.stringify(text));
    }
  });

  const H200 = parseTotalMemoryMib(fixture('h200x2-query-total-i0.csv'));
  const H100 = parseTotalMemoryMib(fixture('h100x1-query-total-i0.csv'));

  it('reads the real H100 80GB total', () => {
    assert.equal(H100, 81559);
  });

  for (const largeGpuGib of [90, 100]) {
    it(`halves vLLM on an H200 and keeps its default on an H100 80GB (LARGE_GPU_GIB=${largeGpuGib})`, () => {
      assert.equal(gpuMemoryUtilizationFor(H200, largeGpuGib), 0.5, '143771 MiB is 140 GiB');
      assert.equal(gpuMemoryUtilizationFor(H100, largeGpuGib), undefined, '81559 MiB is 79 GiB');
    });
  }

  it('compares MiB / 1024 in integer arithmetic, -gt the cut-off, as upstream does', () => {
    // 93183 / 1024 = 90.9989…, floor 90, not above 90; 93184 / 1024 = 91 exactly.
    assert.equal(gpuMemoryUtilizationFor(93183, 90), undefined);
    assert.equal(gpuMemoryUtilizationFor(93184, 90), 0.5);
    // The older cut-off: 103423 MiB floors to 100 GiB, 103424 MiB is 101 GiB.
    assert.equal(gpuMemoryUtilizationFor(103423, 100), undefined);
    assert.equal(gpuMemoryUtilizationFor(103424, 100), 0.5);
    // The decimal 100 GB we used before (95367.4 MiB) is no line at all now.
    assert.equal(gpuMemoryUtilizationFor(95368, 100), undefined);
    assert.equal(gpuMemoryUtilizationFor(95368, 90), 0.5);
  });
});
