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
import { countingLmcache, readLmcacheCounters } from '../../src/activities/lmcache-metrics.js';
import type { LmcacheCounterReading } from '../../src/report/types.js';
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
    try {
      const prompt = range(500_000, 2 * CHUNK_TOKENS);
      await counting(server.prometheusPort, 'lmcache', readings, async () => {
        assert.equal(await client.store(cacheKey(prompt, 'store', 0), INSTANCE_ID, range(0, 32)), true);
        await client.endSession('store');
        // A store is committed asynchronously: lookups until it is found, each one's hits counted.
        for (let attempt = 0; attempt < 50; attempt++) {
          const requestId = `lookup-${attempt}`;
          const hits = await client.lookup(cacheKey(prompt, requestId, null));
          hitChunks += hits;
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
    assert.deepEqual(
      { ...deltas, usageRatioAfter: undefined },
      {
        hitTokens: hitChunks * CHUNK_TOKENS,
        finishedStores: 1,
        finishedRetrieves: 1,
        evictedChunks: 0,
        usageRatioAfter: undefined,
      },
    );
    assert.ok(deltas!.usageRatioAfter > 0 && deltas!.usageRatioAfter < 1, `L1 usage ${deltas!.usageRatioAfter}`);
  });

  it('read nothing from a stopped server: the reading says the exporter is not reachable', async () => {
    const doomed = await startLmcacheServer();
    try {
      const readings: LmcacheCounterReading[] = [];
      await counting(doomed.prometheusPort, 'lmcache', readings, () => doomed.stop());
      assert.deepEqual(readings, [
        {
          run: 'lmcache',
          unavailable: `LMCache metrics not reachable at 127.0.0.1:${doomed.prometheusPort}: connection refused`,
        },
      ]);
    } finally {
      await doomed.remove();
    }
  });
});

describe('an exporter that cannot be read', () => {
  it('a closed port: connection refused', async () => {
    const port = await freePort();
    assert.deepEqual(await readLmcacheCounters(port), {
      unavailable: `LMCache metrics not reachable at 127.0.0.1:${port}: connection refused`,
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
