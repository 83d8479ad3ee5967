/**
 * The Node MP client against the real LMCache server (PyPI lmcache in the sim's image): registration of a
 * shared-memory KV cache, store, lookup, byte-identical retrieve, LRU eviction under a small L1, timeouts when
 * the server is gone, and the health stage's probe of it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LmcacheMpClient, LmcacheTimeoutError } from '../../src/lmcache-mp/client.js';
import {
  cacheKey,
  connectRegistered,
  range,
  startLmcacheServer,
  type TestLmcacheServer,
} from '../helpers/lmcache-server.js';

const BLOCK_SIZE = 16;
const CHUNK_TOKENS = 256;
const BLOCKS_PER_CHUNK = CHUNK_TOKENS / BLOCK_SIZE;

function tokens(sequence: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => sequence * 100_000 + index);
}

describe('LMCache MP client against the real server', { timeout: 600_000 }, () => {
  let server: TestLmcacheServer;
  before(async () => {
    server = await startLmcacheServer();
  });
  after(async () => {
    await server?.remove();
  });

  it('answers noop, ping and its chunk size', async () => {
    const client = new LmcacheMpClient(server.endpoint);
    try {
      assert.equal(await client.noop(), 'OK');
      assert.equal(await client.ping(null), true);
      assert.equal(await client.chunkSize(), CHUNK_TOKENS);
    } finally {
      client.close();
    }
  });

  it('stores the KV of full chunks, finds them by token ids and retrieves them byte for byte into other blocks', async () => {
    const { client, kv, close } = await connectRegistered(server, 101, {
      layers: 2,
      blocks: 64,
      blockSize: BLOCK_SIZE,
      heads: 2,
      headSize: 8,
    });
    try {
      const prompt = tokens(1, 2 * CHUNK_TOKENS);
      const source = range(0, 2 * BLOCKS_PER_CHUNK);
      const target = range(2 * BLOCKS_PER_CHUNK, 2 * BLOCKS_PER_CHUNK);
      for (let layer = 0; layer < 2; layer++) {
        for (const block of source) {
          await kv.writeBlock(layer, block, Buffer.alloc(kv.blockBytes, (layer * 31 + block * 7 + 1) & 0xff));
        }
      }
      assert.equal(await client.lookup(cacheKey(prompt, 'miss', null)), 0, 'nothing stored yet');
      await client.endSession('miss');

      assert.equal(await client.store(cacheKey(prompt, 'store', 0), 101, source), true);
      await client.endSession('store');
      // A store is committed asynchronously: a lookup right after it may still miss.
      let hits = 0;
      for (let attempt = 0; attempt < 50 && hits < 2; attempt++) {
        hits = await client.lookup(cacheKey(prompt, `hit-${attempt}`, null));
        if (hits < 2) {
          await client.freeLookupLocks(cacheKey(prompt, `hit-${attempt}`, null));
          await client.endSession(`hit-${attempt}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        } else {
          assert.equal(await client.retrieve(cacheKey(prompt, `hit-${attempt}`, 0), 101, target), true);
          await client.endSession(`hit-${attempt}`);
        }
      }
      assert.equal(hits, 2, 'both chunks of the prompt are found');
      for (let layer = 0; layer < 2; layer++) {
        for (let index = 0; index < source.length; index++) {
          assert.ok(
            (await kv.readBlock(layer, target[index])).equals(await kv.readBlock(layer, source[index])),
            `layer ${layer} block ${target[index]} holds block ${source[index]}'s KV`,
          );
        }
      }
      // A prompt that shares only the first chunk hits only that one: the server hashes token prefixes.
      const diverging = [...prompt.slice(0, CHUNK_TOKENS), ...tokens(2, CHUNK_TOKENS)];
      assert.equal(await client.lookup(cacheKey(diverging, 'prefix', null)), 1);
      await client.freeLookupLocks(cacheKey(diverging, 'prefix', null));
      await client.endSession('prefix');
      assert.ok((await server.metrics()).get('lmcache_mp_lookup_hit_tokens_total')! >= 3 * CHUNK_TOKENS);
    } finally {
      await close();
    }
  });

  it('clear drops every stored chunk: lookups miss and the L1 usage gauge falls to 0', async () => {
    const { client, close } = await connectRegistered(server, 103, {
      layers: 1,
      blocks: 32,
      blockSize: BLOCK_SIZE,
      heads: 2,
      headSize: 8,
    });
    try {
      const prompt = tokens(3, CHUNK_TOKENS);
      assert.equal(await client.store(cacheKey(prompt, 'clear-store', 0), 103, range(0, BLOCKS_PER_CHUNK)), true);
      await client.endSession('clear-store');
      let hits = 0;
      for (let attempt = 0; attempt < 50 && hits === 0; attempt++) {
        const lookupKey = cacheKey(prompt, `clear-hit-${attempt}`, null);
        hits = await client.lookup(lookupKey);
        await client.freeLookupLocks(lookupKey);
        await client.endSession(lookupKey.requestId);
        if (hits === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(hits, 1, 'stored before the clear');
      assert.ok((await server.metrics()).get('lmcache_mp_l1_usage_ratio')! > 0);
      await client.clear();
      assert.equal((await server.metrics()).get('lmcache_mp_l1_usage_ratio'), 0);
      const after = cacheKey(prompt, 'clear-after', null);
      assert.equal(await client.lookup(after), 0, 'gone after the clear');
      await client.endSession('clear-after');
    } finally {
      await close();
    }
  });

  it('evicts the least recently used chunks when a small L1 fills up', async () => {
    const small = await startLmcacheServer({ l1SizeGb: 0.01 });
    // 256 KiB of KV per chunk (2 layers x K,V x 2 heads x 64 x float16): the 10 MiB L1 holds about 40.
    const { client, close } = await connectRegistered(small, 102, {
      layers: 2,
      blocks: 64,
      blockSize: BLOCK_SIZE,
      heads: 2,
      headSize: 64,
    });
    try {
      const hitsOf = async (sequence: number, requestId: string) => {
        const lookupKey = cacheKey(tokens(sequence, 4 * CHUNK_TOKENS), requestId, null);
        const hits = await client.lookup(lookupKey);
        await client.freeLookupLocks(lookupKey);
        await client.endSession(requestId);
        return hits;
      };
      // Each sequence is stored until the server holds it: a store that finds the L1 full is dropped (the server
      // logs it), and the eviction controller, which runs about once a second, makes room for the next attempt.
      const sequences = 16;
      for (let sequence = 0; sequence < sequences; sequence++) {
        let held = 0;
        for (let attempt = 0; attempt < 40 && held < 4; attempt++) {
          const storeKey = cacheKey(tokens(sequence, 4 * CHUNK_TOKENS), `s${sequence}-${attempt}`, 0);
          assert.equal(await client.store(storeKey, 102, range(0, 64)), true);
          await client.endSession(storeKey.requestId);
          await new Promise((resolve) => setTimeout(resolve, 250));
          held = await hitsOf(sequence, `held-${sequence}-${attempt}`);
        }
        assert.equal(held, 4, `sequence ${sequence} was stored`);
      }
      assert.equal(await hitsOf(0, 'first'), 0, 'the first sequence stored was evicted');
      assert.equal(await hitsOf(sequences - 1, 'last'), 4, 'the last sequence stored is still held');
      assert.ok((await small.metrics()).get('lmcache_mp_l1_evicted_chunks_total')! > 0);
    } finally {
      await close();
      await small.remove();
    }
  });

  it('fails a call with a timeout naming the operation once the server is stopped', async () => {
    const doomed = await startLmcacheServer();
    const client = new LmcacheMpClient(doomed.endpoint, 1000);
    try {
      assert.equal(await client.noop(), 'OK');
      await doomed.stop();
      const started = Date.now();
      await assert.rejects(client.noop(), (error: unknown) => {
        assert.ok(error instanceof LmcacheTimeoutError);
        assert.equal(error.operation, 'noop');
        assert.match(error.message, new RegExp(`${doomed.endpoint}.*noop within 1000 ms`));
        return true;
      });
      assert.ok(Date.now() - started < 3000, 'the call gave up at its timeout');
      // A client that never reached a server fails the same way.
      const nowhere = new LmcacheMpClient(`tcp://127.0.0.1:${doomed.port}`, 500);
      await assert.rejects(nowhere.ping(null), LmcacheTimeoutError);
      nowhere.close();
    } finally {
      client.close();
      await doomed.remove();
    }
  });
});
