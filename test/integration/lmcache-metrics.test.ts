/**
 * LMCache's counters read from the real server's Prometheus exporter (PyPI lmcache in the sim's image) around
 * what the Node MP client makes it do, as the benchmark stages read them around a run; and the sentence the
 * report gets when the exporter cannot be read.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import {
  countingLmcache,
  readChunkTokens,
  readLmcacheCounters,
  readVllmKvCache,
} from '../../src/activities/lmcache-metrics.js';
import type { LmcacheCounterReading } from '../../src/report/types.js';
import { resolveConfig, type Config, type LmcacheServerModule } from '../../src/config/schema.js';
import type { RunPlacement } from '../../src/placement/placement.js';
import {
  cacheKey,
  connectRegistered,
  range,
  startLmcacheServer,
  type TestLmcacheServer,
} from '../helpers/lmcache-server.js';
import { freePort } from '../helpers/ports.js';

const BLOCK_SIZE = 16;
const CHUNK_TOKENS = 256;
const INSTANCE_ID = 201;

/** As a benchmark stage reads them: inside an activity, which logs a reading it could not take. */
const counting = (...args: Parameters<typeof countingLmcache>) =>
  new MockActivityEnvironment().run(countingLmcache, ...args);

async function listening(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A run's configuration and placement with its LMCache server (of `module`) on these ports. */
function serverAt(module: LmcacheServerModule, lmcache: number, lmcacheHttp?: number): [Config, RunPlacement] {
  const config = resolveConfig({ profile: 'sim', lmcacheServerModule: module }, { workflowId: 'metrics-test' });
  return [config, { node: 'test', ports: { vllm: 1, baseline: 2, lmcache, lmcacheHttp } }];
}

describe("LMCache's counters from the real server", { timeout: 300_000 }, () => {
  let server: TestLmcacheServer;
  before(async () => {
    server = await startLmcacheServer();
  });
  after(async () => {
    await server?.remove();
  });

  it('count what was done between two readings: one store, the hit tokens of every lookup, one retrieve', async () => {
    const geometry = { layers: 2, blocks: 64, blockSize: BLOCK_SIZE, heads: 2, headSize: 8 };
    const { client, close } = await connectRegistered(server, INSTANCE_ID, geometry);
    const readings: LmcacheCounterReading[] = [];
    let hitChunks = 0;
    let lookups = 0;
    try {
      const prompt = range(500_000, 2 * CHUNK_TOKENS);
      await counting(server.metricsPort, 'lmcache', readings, async () => {
        assert.equal(await client.store(cacheKey(prompt, 'store', 0), INSTANCE_ID, range(0, 32)), true);
        await client.endSession('store');
        // A store is committed asynchronously: lookups until it is found, each one's hits counted.
        for (let attempt = 0; attempt < 50; attempt++) {
          const requestId = `lookup-${attempt}`;
          const hits = await client.lookup(cacheKey(prompt, requestId, null));
          hitChunks += hits;
          lookups++;
          if (hits === 2) {
            assert.equal(await client.retrieve(cacheKey(prompt, requestId, 0), INSTANCE_ID, range(32, 32)), true);
            await client.endSession(requestId);
            return;
          }
          await client.freeLookupLocks(cacheKey(prompt, requestId, null));
          await client.endSession(requestId);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.fail('the stored prompt was never found');
      });
    } finally {
      await close();
    }
    assert.equal(readings.length, 1);
    const [{ run, deltas, unavailable }] = readings as [LmcacheCounterReading];
    assert.equal(run, 'lmcache');
    assert.equal(unavailable, undefined);
    // Lookups read L1 chunks too (the server prefetches what they hit), so those are only bounded below.
    assert.ok(deltas!.l1ReadChunks >= 2, `L1 chunks read: ${deltas!.l1ReadChunks}`);
    assert.deepEqual(
      { ...deltas, usageRatioAfter: undefined, l1ReadChunks: undefined },
      {
        lookups,
        hitTokens: hitChunks * CHUNK_TOKENS,
        finishedStores: 1,
        l1WrittenChunks: 2,
        finishedRetrieves: 1,
        l1ReadChunks: undefined,
        chunksLoaded: 2,
        evictedChunks: 0,
        usageRatioAfter: undefined,
      },
    );
    assert.ok(deltas!.usageRatioAfter > 0 && deltas!.usageRatioAfter < 1, `L1 usage ${deltas!.usageRatioAfter}`);
  });

  it('ask the server its chunk size, which the evidence checks count delivered tokens by', async () => {
    assert.equal(await readChunkTokens(...serverAt('server', server.port)), CHUNK_TOKENS);
    // http_server answers it on its HTTP frontend (GET /status), without LMCache's wire protocol.
    const frontend = await startLmcacheServer({ module: 'http_server' });
    try {
      assert.equal(await readChunkTokens(...serverAt('http_server', 1, frontend.httpPort)), CHUNK_TOKENS);
    } finally {
      await frontend.remove();
    }
  });

  it('read nothing from a stopped server: the reading says the exporter is not reachable', async () => {
    const doomed = await startLmcacheServer();
    try {
      const readings: LmcacheCounterReading[] = [];
      await counting(doomed.metricsPort, 'lmcache', readings, () => doomed.stop());
      assert.deepEqual(readings, [
        {
          run: 'lmcache',
          unavailable: `LMCache metrics not reachable at 127.0.0.1:${doomed.metricsPort}: connection refused`,
        },
      ]);
    } finally {
      await doomed.remove();
    }
  });
});

describe('an exporter that cannot be read', () => {
  it('a closed port: connection refused (LMCache, vLLM), no answer (the chunk size over LMCache protocol)', async () => {
    const port = await freePort();
    assert.deepEqual(await readLmcacheCounters(port), {
      unavailable: `LMCache metrics not reachable at 127.0.0.1:${port}: connection refused`,
    });
    assert.deepEqual(await readVllmKvCache(port), {
      unavailable: `vLLM metrics not reachable at 127.0.0.1:${port}: connection refused`,
    });
    const chunk = await readChunkTokens(...serverAt('server', port));
    assert.match(
      (chunk as { unavailable: string }).unavailable,
      new RegExp(`^LMCache's chunk size not read at 127\\.0\\.0\\.1:${port}: .*did not answer get_chunk_size`),
    );
    assert.deepEqual(await readChunkTokens(...serverAt('http_server', 1, port)), {
      unavailable: `LMCache's chunk size not read: GET http://127.0.0.1:${port}/status: connection refused`,
    });
  });

  it('an HTTP error, and metrics that are not LMCache MP server ones', async () => {
    let answer = { status: 404, body: 'Not Found' };
    const http = createServer((_, response) => response.writeHead(answer.status).end(answer.body));
    const port = await listening(http);
    try {
      assert.deepEqual(await readLmcacheCounters(port), {
        unavailable: `LMCache metrics not reachable at 127.0.0.1:${port}: HTTP 404 Not Found`,
      });
      answer = { status: 200, body: '# TYPE lmcache_sim_lookups_total counter\nlmcache_sim_lookups_total 3\n' };
      assert.deepEqual(await readLmcacheCounters(port), {
        unavailable: `LMCache metrics not reachable at 127.0.0.1:${port}: no lmcache_mp_l1_usage_ratio in its metrics`,
      });
    } finally {
      http.close();
    }
  });

  it('a port that accepts and never answers: given up at the timeout', async () => {
    const silent = createTcpServer((socket) => socket.on('error', () => {}));
    const port = await listening(silent);
    try {
      const started = Date.now();
      assert.deepEqual(await readLmcacheCounters(port), {
        unavailable: `LMCache metrics not reachable at 127.0.0.1:${port}: no answer within 2000 ms`,
      });
      assert.ok(Date.now() - started < 4000, 'the reading gave up at its timeout');
    } finally {
      silent.close();
    }
  });
});
