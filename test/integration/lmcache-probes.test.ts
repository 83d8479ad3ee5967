/**
 * How the health stage and a retry's cold caches reach the real LMCache MP server (the sim's image of PyPI
 * lmcache 0.5.6), in both modules: `http_server` over its HTTP frontend alone, `server` over its MP protocol with
 * its metrics as the fallback when `noop` gets no answer.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { clearLmcache } from '../../src/activities/cold-caches.js';
import { probeLmcache, type LmcacheEndpoints } from '../../src/activities/probes.js';
import { LmcacheMpClient } from '../../src/lmcache-mp/client.js';
import {
  cacheKey,
  connectRegistered,
  range,
  startLmcacheServer,
  type TestLmcacheServer,
} from '../helpers/lmcache-server.js';

const BLOCK_SIZE = 16;
const CHUNK_TOKENS = 256;

/** A port that accepts connections and never answers: what a server whose protocol moved looks like to `noop`. */
async function silentPort(): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

/** One chunk stored in `server`, seen by a lookup, so its L1 is in use. */
async function storeOneChunk(server: TestLmcacheServer, instanceId: number): Promise<void> {
  const { client, close } = await connectRegistered(server, instanceId, {
    layers: 1,
    blocks: 32,
    blockSize: BLOCK_SIZE,
    heads: 2,
    headSize: 8,
  });
  try {
    const prompt = range(instanceId * 100_000, CHUNK_TOKENS);
    assert.equal(await client.store(cacheKey(prompt, `store-${instanceId}`, 0), instanceId, range(0, 16)), true);
    await client.endSession(`store-${instanceId}`);
    for (let attempt = 0; attempt < 50; attempt++) {
      if ((await server.metrics()).get('lmcache_mp_l1_usage_ratio')! > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail('the stored chunk never showed in the L1 usage gauge');
  } finally {
    await close();
  }
}

describe('LMCache readiness and clear, as the stages reach the real server', { timeout: 600_000 }, () => {
  let http: TestLmcacheServer;
  let mp: TestLmcacheServer;
  let silent: { port: number; server: Server };
  before(async () => {
    http = await startLmcacheServer({ module: 'http_server' });
    mp = await startLmcacheServer({ module: 'server' });
    silent = await silentPort();
  });
  after(async () => {
    silent?.server.close();
    await http?.remove();
    await mp?.remove();
  });

  const httpEndpoints = (): LmcacheEndpoints => ({
    module: 'http_server',
    port: http.port,
    httpPort: http.httpPort!,
    metricsPort: http.metricsPort,
  });

  it('http_server: ready by GET /healthcheck, which says so', async () => {
    assert.deepEqual(await probeLmcache(httpEndpoints()), {
      ready: true,
      decidedBy: `GET http://127.0.0.1:${http.httpPort}/healthcheck: 200 {"status":"healthy"}`,
    });
  });

  it('http_server: not ready when its HTTP port does not answer, even though its MP port does', async () => {
    const probe = await probeLmcache({ ...httpEndpoints(), httpPort: silent.port });
    assert.equal(probe.ready, false);
    assert.match(probe.decidedBy, new RegExp(`^GET http://127.0.0.1:${silent.port}/healthcheck: `));
  });

  it('http_server: POST /cache/clear empties a stored chunk, and its /metrics (on the HTTP port) show it', async () => {
    await storeOneChunk(http, 201);
    assert.equal(await clearLmcache(httpEndpoints()), true);
    assert.equal((await http.metrics()).get('lmcache_mp_l1_usage_ratio'), 0);
    const client = new LmcacheMpClient(http.endpoint);
    try {
      const lookup = cacheKey(range(201 * 100_000, CHUNK_TOKENS), 'after-clear', null);
      assert.equal(await client.lookup(lookup), 0, 'gone after the clear');
      await client.endSession('after-clear');
    } finally {
      client.close();
    }
  });

  it('server: ready by noop', async () => {
    assert.deepEqual(
      await probeLmcache({ module: 'server', port: mp.port, httpPort: 0, metricsPort: mp.metricsPort }),
      {
        ready: true,
        decidedBy: 'noop: OK',
      },
    );
  });

  it('server: when noop gets no answer from a port that accepts connections, its metrics decide', async () => {
    const probe = await probeLmcache({ module: 'server', port: silent.port, httpPort: 0, metricsPort: mp.metricsPort });
    assert.equal(probe.ready, true);
    assert.match(
      probe.decidedBy,
      new RegExp(`^metrics at 127.0.0.1:${mp.metricsPort} \\(lmcache_mp_\\* present\\), as noop got no answer`),
    );
  });

  it('server: not ready when neither noop nor its metrics answer, and the detail says both', async () => {
    const probe = await probeLmcache({ module: 'server', port: silent.port, httpPort: 0, metricsPort: silent.port });
    assert.equal(probe.ready, false);
    assert.match(probe.decidedBy, /^noop: no answer .*; LMCache metrics not reachable at/);
  });

  it('server: not ready, by noop, when nothing listens on its port', async () => {
    const closed = await silentPort();
    closed.server.close();
    const probe = await probeLmcache({ module: 'server', port: closed.port, httpPort: 0, metricsPort: mp.metricsPort });
    assert.deepEqual(probe.ready, false);
    assert.match(probe.decidedBy, /^noop: no answer/);
  });

  it('server: the MP protocol clear empties a stored chunk', async () => {
    await storeOneChunk(mp, 202);
    assert.equal(
      await clearLmcache({ module: 'server', port: mp.port, httpPort: 0, metricsPort: mp.metricsPort }),
      true,
    );
    assert.equal((await mp.metrics()).get('lmcache_mp_l1_usage_ratio'), 0);
  });
});
