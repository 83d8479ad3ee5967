/**
 * The fleet on one machine: scripts/fleet-sim.sh 2 4 (two worker nodes, four sim runs at once, light workload)
 * must pass every run with no GPU or port held twice, no stage on another node than the claimed one and nothing
 * left behind. The workers get an HF_TOKEN: it must reach the vLLM containers and appear nowhere in the
 * histories or results.
 */
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { docker } from '../../src/docker/client.js';
import { containersOf } from '../../src/docker/containers.js';
import { textsHolding, textsOfFiles } from '../helpers/decoded-history.js';
import { PROJECT_ROOT } from '../helpers/temporal.js';
import { DevServer } from '../helpers/temporal-processes.js';

const SECRET = `hf_fleet_secret_${process.pid}`;

describe('a fleet of sim nodes', { timeout: 600_000 }, () => {
  let server: DevServer;
  before(async () => {
    server = await DevServer.start();
  });
  after(async () => {
    await server?.stop();
  });

  it('runs 4 runs on 2 nodes with disjoint leases, pinned stages, no leaks, and HF_TOKEN only in the containers', async () => {
    // While the fleet runs, look into a vLLM container for the token the worker node passed it.
    const tokensSeen = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const c of await containersOf()) {
          if (!/^fleet\d+-run/.test(c.workflowId) || c.role !== 'vllm') continue;
          const env =
            (
              await docker()
                .getContainer(c.id)
                .inspect()
                .catch(() => undefined)
            )?.Config.Env ?? [];
          for (const line of env.filter((l) => l.startsWith('HF_TOKEN='))) tokensSeen.add(line);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    const fleet = await execa('bash', ['scripts/fleet-sim.sh', '2', '4'], {
      cwd: PROJECT_ROOT,
      env: { TEMPORAL_ADDRESS: server.address, SKIP_BUILD: '1', HF_TOKEN: SECRET },
      reject: false,
      all: true,
    });
    watching = false;
    await watch;
    assert.equal(fleet.exitCode, 0, fleet.all);
    const figures = JSON.parse(fleet.stdout.trim().split('\n').pop()!);
    assert.deepEqual(
      {
        nodes: figures.nodes,
        runs: figures.runs,
        passed: figures.passed,
        leasedRuns: figures.leasedRuns,
        gpuOverlaps: figures.gpuOverlaps,
        portOverlaps: figures.portOverlaps,
        crossNodeStages: figures.crossNodeStages,
        leakedContainers: figures.leakedContainers,
        leakedLeases: figures.leakedLeases,
      },
      {
        nodes: 2,
        runs: 4,
        passed: 4,
        leasedRuns: 4,
        gpuOverlaps: 0,
        portOverlaps: 0,
        crossNodeStages: 0,
        leakedContainers: 0,
        leakedLeases: 0,
      },
      fleet.all,
    );
    assert.ok(figures.wallSeconds > 0 && figures.oneRunSeconds > 0);
    assert.deepEqual([...tokensSeen], [`HF_TOKEN=${SECRET}`], "the vLLM containers got the node's token");

    const tag = /lmcache-mp-(fleet\d+)/.exec(fleet.all)?.[1] ?? /"(fleet\d+)-/.exec(fleet.all)?.[1];
    const runDir = path.join(PROJECT_ROOT, '.run');
    const fleetDir = (await readdir(runDir))
      .filter((name) => /^fleet\d+$/.test(name))
      .sort()
      .pop()!;
    assert.ok(tag === undefined || tag === fleetDir, `${tag} vs ${fleetDir}`);
    const histories = path.join(runDir, fleetDir, 'histories');
    assert.equal((await readdir(histories)).length, 4);
    const results = (await readdir('/tmp')).filter((name) => name.startsWith(`lmcache_ci_results_${fleetDir}-`));
    assert.equal(results.length, 5, 'the single run and the four concurrent ones');
    // The histories decoded: their payloads are base64 in the saved JSON.
    const texts = await textsOfFiles(path.join(runDir, fleetDir));
    for (const dir of results) Object.assign(texts, await textsOfFiles(path.join('/tmp', dir)));
    assert.deepEqual(
      textsHolding(SECRET, texts),
      [],
      'HF_TOKEN appears in no history, worker log, report, result or log tail',
    );
  });
});
