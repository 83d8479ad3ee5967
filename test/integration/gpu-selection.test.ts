/**
 * GPU selection through a real `nvidia-smi` process: a stand-in program on PATH that prints the outputs
 * captured on an H200 node (and hand-made ones in the same format), so the activity's execa calls, parsing,
 * rule and waiting run for real.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { selectGpus } from '../../src/activities/gpu.js';
import { resolveConfig } from '../../src/config/schema.js';
import { FailureType } from '../../src/failures.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/nvidia-smi/', import.meta.url));

// Prints the GPU query fixture (the busy one for the first FAKE_BUSY_CALLS calls) or the total-memory fixture.
const FAKE_NVIDIA_SMI = `#!/usr/bin/env bash
case "$1" in
  --query-gpu=memory.free,utilization.gpu,index)
    calls=$(( $(cat "$FAKE_STATE" 2>/dev/null || echo 0) + 1 )); echo "$calls" > "$FAKE_STATE"
    if [ "$calls" -le "\${FAKE_BUSY_CALLS:-0}" ]; then cat "$FAKE_BUSY_QUERY"; else cat "$FAKE_QUERY"; fi ;;
  --query-gpu=memory.total) cat "$FAKE_TOTAL" ;;
  *) echo "unexpected arguments: $*" >&2; exit 9 ;;
esac
`;

describe('GPU selection with nvidia-smi', { timeout: 60_000 }, () => {
  let binDir: string;
  const savedEnv = { ...process.env };

  before(async () => {
    binDir = await mkdtemp(path.join(tmpdir(), 'fake-nvidia-smi-'));
    await writeFile(path.join(binDir, 'nvidia-smi'), FAKE_NVIDIA_SMI);
    await chmod(path.join(binDir, 'nvidia-smi'), 0o755);
  });
  after(async () => {
    process.env = savedEnv;
    await rm(binDir, { recursive: true, force: true });
  });

  function useFixtures(query: string, total: string, busy?: { file: string; calls: number }) {
    process.env = {
      ...savedEnv,
      PATH: `${binDir}:${savedEnv.PATH}`,
      FAKE_STATE: path.join(binDir, `state-${Math.random()}`),
      FAKE_QUERY: path.join(FIXTURES, query),
      FAKE_TOTAL: path.join(FIXTURES, total),
      FAKE_BUSY_QUERY: busy?.file ?? path.join(FIXTURES, query),
      FAKE_BUSY_CALLS: String(busy?.calls ?? 0),
    };
  }

  const run = (overrides: object = {}) =>
    new MockActivityEnvironment().run(
      selectGpus,
      resolveConfig({ lmcacheRepoDir: '/src/LMCache', ...overrides }, { workflowId: 'gpu-test' }),
    );

  it('takes both H200s and halves vLLM memory on GPUs over 100 GB', async () => {
    useFixtures('h200x2-query-free-util-index.csv', 'h200x2-query-total-i0.csv');
    assert.deepEqual(await run(), { withLmcache: 0, baseline: 1, gpuMemoryUtilization: 0.5 });
  });

  it('keeps vLLM defaults on 80 GB GPUs and picks the two idle GPUs with most free memory', async () => {
    useFixtures('synthetic-4gpu-mixed-query-free-util-index.csv', 'synthetic-h100-query-total-i0.csv');
    assert.deepEqual(await run(), { withLmcache: 3, baseline: 0, gpuMemoryUtilization: undefined });
  });

  it('waits while fewer than two GPUs qualify, then takes them', async () => {
    // The first query sees GPU 1 full and busy; the next one sees both idle.
    const oneFree = path.join(binDir, 'one-free.csv');
    await writeFile(oneFree, '143156, 0, 0\n1200, 97, 1\n');
    useFixtures('h200x2-query-free-util-index.csv', 'h200x2-query-total-i0.csv', { file: oneFree, calls: 1 });
    assert.deepEqual(await run({ gpuWaitSeconds: 60 }), { withLmcache: 0, baseline: 1, gpuMemoryUtilization: 0.5 });
  });

  it('gives up after GPU_WAIT_SECONDS naming what it saw', async () => {
    useFixtures('h200x2-query-free-util-index.csv', 'h200x2-query-total-i0.csv');
    try {
      await run({ gpuMinFreeMemoryMib: 150000, gpuWaitSeconds: 0 });
      assert.fail('expected NoGpusAvailable');
    } catch (error) {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, FailureType.NoGpusAvailable);
      assert.match(
        error.message,
        /fewer than 2 GPUs with >= 150000 MiB free .* \(GPU 0: 143156 MiB free, 0 % busy; GPU 1: 143156 MiB free, 0 % busy\)/,
      );
    }
  });
});
