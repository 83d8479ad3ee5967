/** GPU and port leases on one node: choice, waiting, release, reclaiming, and runs claiming at the same moment. */
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  leaseHolders,
  reclaimLeases,
  releaseLeases,
  tryLease,
  type LeaseAttempt,
  type LeaseRequest,
} from '../../src/placement/leases.js';
import { nodeSettings } from '../../src/placement/node.js';
import { lmcacheMetricsPort, portRolesFor, type RunPlacement } from '../../src/placement/placement.js';
import { resolveConfig } from '../../src/config/schema.js';

const LEASE_ONCE = fileURLToPath(new URL('../helpers/lease-once.js', import.meta.url));

function request(workflowId: string, overrides: Partial<LeaseRequest> = {}): LeaseRequest {
  return {
    workflowId,
    node: 'n1',
    gpuPreference: [3, 1, 0, 2],
    pinnedPorts: {},
    portRoles: portRolesFor('server'),
    portRange: { first: 30000, last: 30011 },
    portFree: async () => true,
    ...overrides,
  };
}

function placed(attempt: LeaseAttempt): RunPlacement {
  assert.ok('placement' in attempt, `expected a placement, got ${JSON.stringify(attempt)}`);
  return attempt.placement;
}

/** Pairs of placements that share a GPU or a port. */
function overlaps(placements: RunPlacement[]): string[] {
  const found: string[] = [];
  placements.forEach((a, i) =>
    placements.slice(i + 1).forEach((b) => {
      const gpus = (p: RunPlacement) => [p.gpus!.withLmcache, p.gpus!.baseline];
      const shared = [
        ...gpus(a)
          .filter((g) => gpus(b).includes(g))
          .map((g) => `gpu ${g}`),
        ...Object.values(a.ports)
          .filter((p) => Object.values(b.ports).includes(p))
          .map((p) => `port ${p}`),
      ];
      if (shared.length > 0) found.push(shared.join(', '));
    }),
  );
  return found;
}

describe('GPU and port leases', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'leases-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes the two most preferred GPUs and four ports of the range; the next run gets the next ones', async () => {
    const first = placed(await tryLease(dir, request('wf-a')));
    assert.deepEqual(first.gpus, { withLmcache: 3, baseline: 1 });
    assert.deepEqual(first.ports, { vllm: 30000, baseline: 30001, lmcache: 30002, prometheus: 30003 });
    const second = placed(await tryLease(dir, request('wf-b')));
    assert.deepEqual(second.gpus, { withLmcache: 0, baseline: 2 });
    assert.deepEqual(second.ports, { vllm: 30004, baseline: 30005, lmcache: 30006, prometheus: 30007 });
  });

  it("leases the HTTP frontend's port in place of the exporter's for http_server, pinned or from the range", async () => {
    const http = { portRoles: portRolesFor('http_server') };
    const leased = placed(await tryLease(dir, request('wf-a', http)));
    assert.deepEqual(leased.ports, { vllm: 30000, baseline: 30001, lmcache: 30002, lmcacheHttp: 30003 });
    const pinned = placed(
      await tryLease(dir, request('wf-b', { ...http, pinnedPorts: { vllm: 8000, lmcache: 6555, lmcacheHttp: 6556 } })),
    );
    assert.deepEqual(pinned.ports, { vllm: 8000, baseline: 30004, lmcache: 6555, lmcacheHttp: 6556 });
  });

  it('gives --gpu-memory-utilization by the GPU it leases for LMCache', async () => {
    const byGpu: Record<number, number | undefined> = { 3: undefined, 1: 0.5, 0: 0.5, 2: undefined };
    const request1 = request('wf-a', { gpuMemoryUtilizationOf: (gpu) => byGpu[gpu] });
    assert.deepEqual(placed(await tryLease(dir, request1)).gpus, { withLmcache: 3, baseline: 1 });
    const request2 = request('wf-b', { gpuMemoryUtilizationOf: (gpu) => byGpu[gpu] });
    assert.deepEqual(placed(await tryLease(dir, request2)).gpus, {
      withLmcache: 0,
      baseline: 2,
      gpuMemoryUtilization: 0.5,
    });
  });

  it('hands a run its own placement back (a retried attempt, a restarted worker)', async () => {
    const first = placed(await tryLease(dir, request('wf-a')));
    assert.deepEqual(placed(await tryLease(dir, request('wf-a'))), first);
    assert.deepEqual(await leaseHolders(dir), ['wf-a']);
  });

  it('makes a run wait while fewer than two GPUs are unleased, and lets it in once they are released', async () => {
    placed(await tryLease(dir, request('wf-a')));
    placed(await tryLease(dir, request('wf-b')));
    const waiting = await tryLease(dir, request('wf-c'));
    assert.ok('waitingFor' in waiting);
    assert.match(waiting.waitingFor, /2 GPUs: 4 qualify by the rule, 4 leased/);
    const released = await releaseLeases(dir, 'wf-a');
    assert.equal(released.length, 7, 'two GPUs, four ports and the run record');
    assert.deepEqual(placed(await tryLease(dir, request('wf-c'))).gpus, { withLmcache: 3, baseline: 1 });
  });

  it('keeps pinned ports, takes the rest from the range, skips ports in use, and waits for a pinned port held', async () => {
    const inUse = new Set([30000, 30001]);
    const pinned = placed(
      await tryLease(dir, request('wf-a', { pinnedPorts: { vllm: 8000 }, portFree: async (p) => !inUse.has(p) })),
    );
    assert.deepEqual(pinned.ports, { vllm: 8000, baseline: 30002, lmcache: 30003, prometheus: 30004 });
    const clash = await tryLease(dir, request('wf-b', { pinnedPorts: { vllm: 8000 } }));
    assert.ok('waitingFor' in clash);
    assert.match(clash.waitingFor, /8000 \(pinned\)/);
  });

  it('waits when the port range is used up', async () => {
    const small = { portRange: { first: 30000, last: 30005 } };
    placed(await tryLease(dir, request('wf-a', small)));
    const waiting = await tryLease(dir, request('wf-b', small));
    assert.ok('waitingFor' in waiting);
    assert.match(waiting.waitingFor, /in the range 30000-30005/);
  });

  it('reclaims only the leases of runs that are no longer running', async () => {
    placed(await tryLease(dir, request('wf-running')));
    placed(await tryLease(dir, request('wf-terminated')));
    const reclaimed = await reclaimLeases(dir, async (workflowId) => workflowId === 'wf-running');
    assert.deepEqual(reclaimed, ['wf-terminated']);
    assert.deepEqual(await leaseHolders(dir), ['wf-running']);
    assert.equal((await readdir(dir)).length, 7);
  });

  it('never gives one GPU or port to two runs claiming at the same moment from separate processes', async () => {
    for (let round = 0; round < 4; round++) {
      const roundDir = path.join(dir, `round-${round}`);
      const startAt = Date.now() + 1500;
      // Three GPUs for four runs: exactly one run can get two.
      const outcomes = await Promise.all(
        ['a', 'b', 'c', 'd'].map(async (run) =>
          JSON.parse((await execa('node', [LEASE_ONCE, roundDir, `wf-${run}`, '3', String(startAt)])).stdout),
        ),
      );
      const winners = outcomes.filter((o): o is { placement: RunPlacement } => 'placement' in o);
      assert.equal(winners.length, 1, JSON.stringify(outcomes));
      const roomy = path.join(dir, `roomy-${round}`);
      const all = await Promise.all(
        ['a', 'b', 'c', 'd'].map(async (run) =>
          JSON.parse((await execa('node', [LEASE_ONCE, roomy, `wf-${run}`, '8', String(Date.now() + 1500)])).stdout),
        ),
      );
      const placements = all.map((attempt: LeaseAttempt) => placed(attempt));
      assert.deepEqual(overlaps(placements), [], JSON.stringify(placements));
    }
  });

  it('reads the node settings: NODE_NAME, LEASE_DIR, PORT_RANGE and SIM_GPUS, with defaults', () => {
    const settings = nodeSettings({ NODE_NAME: 'gpu-7', LEASE_DIR: '/var/leases', PORT_RANGE: '21000-21099' });
    assert.deepEqual(settings, {
      name: 'gpu-7',
      leaseDir: '/var/leases/gpu-7',
      portRange: { first: 21000, last: 21099 },
      simGpus: 8,
    });
    assert.throws(() => nodeSettings({ PORT_RANGE: '21000-21001' }), /PORT_RANGE must be "FIRST-LAST"/);
    assert.throws(() => nodeSettings({ NODE_NAME: 'a b' }), /NODE_NAME may hold only/);
    assert.throws(() => nodeSettings({ SIM_GPUS: 'x' }), /SIM_GPUS must be a whole number/);
  });
});

describe("where the stages read a run's LMCache metrics", () => {
  const config = resolveConfig({ lmcacheRepoDir: '/src/LMCache' }, { workflowId: 'wf-a' });
  const placement = (ports: RunPlacement['ports']): RunPlacement => ({ node: 'n1', ports });

  it('http_server: at its HTTP frontend, the leased port or the configured one', () => {
    assert.equal(
      lmcacheMetricsPort(config, placement({ vllm: 1, baseline: 2, lmcache: 3, lmcacheHttp: 30003 })),
      30003,
    );
    assert.equal(lmcacheMetricsPort(config, undefined), 6556);
  });

  it("server: at the exporter port launch passed, or LMCache's own default for runs before leases", () => {
    const server = { ...config, lmcacheServerModule: 'server' as const };
    assert.equal(lmcacheMetricsPort(server, placement({ vllm: 1, baseline: 2, lmcache: 3, prometheus: 30003 })), 30003);
    assert.equal(lmcacheMetricsPort(server, undefined), 9090);
  });
});
