/** What a `retryStage` may override, the lines a held run shows, and the verdict rules for held and overridden runs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../src/config/schema.js';
import { applyOverrides, retryCommand } from '../../src/workflows/hold.js';
import { runVerdict, type RunState } from '../../src/workflows/search-attributes.js';

const config = resolveConfig({ profile: 'sim', maxLmcacheTtft: 0.001 }, { workflowId: 'wf' });

describe('retryStage overrides', () => {
  it('applies workload knobs and thresholds, recording the original beside the overridden value', () => {
    const applied = applyOverrides(config, { maxLmcacheTtft: 0.1, numDocuments: 4, outputLen: 16 }, 'wf');
    assert.equal(applied.config.maxLmcacheTtft, 0.1);
    assert.equal(applied.config.numDocuments, 4);
    assert.deepEqual(applied.overrides, {
      maxLmcacheTtft: { original: 0.001, overridden: 0.1 },
      numDocuments: { original: 12, overridden: 4 },
    });
    assert.deepEqual(applyOverrides(config, undefined, 'wf'), { config, overrides: {} });
  });

  it('refuses the image, the model, the ports and the stages, naming the field', () => {
    for (const field of ['image', 'model', 'vllmPort', 'stages', 'profile']) {
      assert.throws(
        () => applyOverrides(config, { [field]: 'x' }, 'wf'),
        new RegExp(`config\\.${field}: retryStage cannot`),
      );
    }
  });

  it('validates values through the schema', () => {
    assert.throws(() => applyOverrides(config, { numPrompts: 0 }, 'wf'), /numPrompts: Too small/);
    assert.throws(() => applyOverrides(config, [1], 'wf'), /config: must be a JSON object/);
  });

  it('shows the exact update line to type', () => {
    assert.equal(
      retryCommand('lmcache-mp-test-7', 'long_doc_qa'),
      `temporal workflow update execute --workflow-id lmcache-mp-test-7 --name retryStage --input '{"stage":"long_doc_qa"}'`,
    );
  });
});

describe('the lifecycle value (LmcacheMpState, LmcacheMpVerdict)', () => {
  const state = (overrides: Partial<RunState>): RunState => ({
    profile: 'sim',
    model: 'm',
    buildId: 'b',
    stages: [],
    checks: [],
    figures: { queryTtft: null, queryRoundTime: null, throughputRatio: null },
    finished: false,
    cancelled: false,
    ...overrides,
  });
  const failedCheck = { name: 'long_doc_qa.query_ttft_per_prompt', passed: false, value: 1, limit: 0.1 };

  it('is held while held, and passed-with-overrides only for a passing run', () => {
    assert.equal(runVerdict(state({ held: true, checks: [failedCheck] })), 'held');
    assert.equal(runVerdict(state({ finished: true, overridden: true })), 'passed-with-overrides');
    assert.equal(runVerdict(state({ finished: true, overridden: true, checks: [failedCheck] })), 'failed');
    const superseded = { name: 'long_doc_qa', status: 'failed' as const, durationMs: 1, superseded: true };
    assert.equal(runVerdict(state({ finished: true, stages: [superseded] })), 'passed');
  });
});
