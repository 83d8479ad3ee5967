/** Test activities for workflow tests: each records its call and returns a passing result unless overridden. */
import type { PipelineActivities } from '../../src/activities/index.js';
import type { Check } from '../../src/report/types.js';

export type Calls = string[];
export const NODE = 'node-a';
export const PLACEMENT = {
  node: NODE,
  gpus: { withLmcache: 3, baseline: 5 },
  ports: { vllm: 20000, baseline: 20001, lmcache: 20002, prometheus: 20003 },
};
export const passing = (name: string): Check => ({ name, passed: true, value: 1, limit: 1 });
export const failing = (name: string): Check => ({
  name,
  passed: false,
  value: 0.9,
  limit: 0.5,
  detail: `${name} too slow`,
});

export const UNREACHABLE_METRICS = 'LMCache metrics not reachable at 127.0.0.1:20003: connection refused';
export const LONG_DOC_QA_COUNTERS = {
  hitTokens: 300_000,
  finishedStores: 1200,
  finishedRetrieves: 60,
  evictedChunks: 0,
  usageRatioAfter: 0.02,
};

/** Activities that record their calls; each behaviour can be overridden per test. */
export function testActivities(calls: Calls, overrides: Partial<PipelineActivities> = {}) {
  const record =
    <R extends object>(name: keyof PipelineActivities, result: R) =>
    async (...args: unknown[]) => {
      calls.push(name);
      const override = overrides[name];
      return override ? Reflect.apply(override, undefined, args) : { ...result, durationMs: 5 };
    };
  return {
    claimNode: record('claimNode', { node: NODE }),
    buildImage: record('buildImage', { image: 'img', imageId: 'sha', steps: [] }),
    leaseResources: record('leaseResources', { placement: PLACEMENT }),
    launchContainers: record('launchContainers', { containers: [] }),
    waitForHealth: record('waitForHealth', { servers: [], finishedAt: 0 }),
    ensureServers: record('ensureServers', { relaunched: [], health: { servers: [], finishedAt: 0 } }),
    runLmEval: record('runLmEval', { checks: [passing('lm_eval.samples_identical')] }),
    runVllmBench: record('runVllmBench', {
      checks: [passing('vllm_bench.throughput')],
      lmcacheCounters: [{ run: 'lmcache', unavailable: UNREACHABLE_METRICS }],
    }),
    runLongDocQa: record('runLongDocQa', {
      checks: [passing('long_doc_qa.query_ttft_per_prompt')],
      longDocQaComparison: [{ metric: 'query_ttft_per_prompt', baseline: 1.2, lmcache: 0.1 }],
      lmcacheCounters: [{ run: 'lmcache', deltas: LONG_DOC_QA_COUNTERS }],
    }),
    checkInputFiles: record('checkInputFiles', { scripts: [] }),
    checkScriptFiles: record('checkScriptFiles', { scripts: [] }),
    runScriptStage: record('runScriptStage', { checks: [passing('script.exit_code')] }),
    cleanupContainers: record('cleanupContainers', { removed: ['a', 'b', 'c'], logFiles: [] }),
    writeReport: record('writeReport', { files: [] }),
  };
}
