/**
 * The sim vLLM server's LMCacheMPConnector: a client of LMCache's real multiprocess server (../lmcache-mp). Its
 * "GPU" KV cache is a paged cache in POSIX shared memory that it registers as vLLM registers its own, and the
 * server copies blocks in and out of it. The KV of a token is derived from its id and position, so what a retrieve
 * brings back is checked byte for byte, and KV that does not match changes the model's output, as on a GPU.
 *
 * The blocks form a few regions, one per request between its retrieve and the end of its store (./engine.ts takes
 * one for each prefill): block i of a region holds the prompt's tokens [16 i, 16 i + 16). A store reads its region
 * while the next prefill writes another. Every call has a timeout; a dead or silent server fails the call with an error that
 * names it. A server that restarted (the cold-cache reset before a retried benchmark) or dropped an idle instance
 * refuses its stores and retrieves: the connector then registers again and repeats the call once.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { LmcacheMpClient } from '../lmcache-mp/client.js';
import { SharedKvCache, type KvGeometry } from '../lmcache-mp/shared-kv-cache.js';
import type { CacheKey } from '../lmcache-mp/wire.js';
import { BLOCK_TOKENS, LMCACHE_TIMEOUT_SECONDS, MAX_MODEL_LEN } from './cost-model.js';
import type { Defect } from './defects.js';
import type { Logger } from './log.js';

/** Blocks of a region: enough for the longest prompt. */
const REGION_BLOCKS = Math.ceil(MAX_MODEL_LEN / BLOCK_TOKENS);
/** Regions: one prefill and up to three stores behind it (the files are sparse: only written pages count). */
const REGIONS = 4;
/** 1 KiB of KV per token (one layer; K and V of 4 heads of 64 float16). */
const KV_GEOMETRY: KvGeometry = {
  layers: 1,
  blocks: REGIONS * REGION_BLOCKS,
  blockSize: BLOCK_TOKENS,
  heads: 4,
  headSize: 64,
};
const TOKEN_PLANE_BYTES = KV_GEOMETRY.heads * KV_GEOMETRY.headSize * 2;

export interface ConnectorStats {
  endpoint: string;
  registrations: number;
  lookups: number;
  retrieves: number;
  retrievedTokens: number;
  retrieveFailures: number;
  /** Blocks whose retrieved KV differed from what their tokens give. */
  mismatchedBlocks: number;
  storeRequests: number;
  storedTokens: number;
  storeFailures: number;
  pendingStores: number;
  /** Calls that failed (timeouts, a refused registration), each logged. */
  errors: number;
}

/** 32-bit mixing (the finalizer of MurmurHash3), so neighbouring tokens get unrelated bytes. */
function mix(value: number): number {
  let h = value | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The KV that the prompt's first `count` blocks hold for `tokenIds` in one plane (0: K, 1: V) of a layer:
 * 16 bytes per token from its id and position, repeated over its heads. Bit 14 of every float16 is cleared, so no
 * value is a NaN or an infinity that a copy could canonicalize.
 */
function expectedKv(tokenIds: readonly number[], count: number, plane: number): Buffer {
  const data = Buffer.alloc(count * BLOCK_TOKENS * TOKEN_PLANE_BYTES);
  const pattern = Buffer.alloc(16);
  for (let position = 0; position < count * BLOCK_TOKENS && position < tokenIds.length; position++) {
    const seed = mix(tokenIds[position] ^ mix(position * 2 + plane));
    for (let word = 0; word < 4; word++) pattern.writeUInt32LE((mix(seed + word) & 0xbfffbfff) >>> 0, word * 4);
    const at = position * TOKEN_PLANE_BYTES;
    data.fill(pattern, at, at + TOKEN_PLANE_BYTES);
  }
  return data;
}

export class LmcacheConnector {
  readonly stats: ConnectorStats;
  private readonly client: LmcacheMpClient;
  private readonly instanceId = randomInt(1, 2 ** 31 - 1);
  private chunkTokens: number | null = null;
  private readonly freeRegions = Array.from({ length: REGIONS }, (_, region) => region);
  private readonly regionWaiters: Array<(region: number) => void> = [];

  private constructor(
    port: number,
    private readonly model: string,
    private readonly kv: SharedKvCache,
    private readonly log: Logger,
    private readonly defect: Defect,
  ) {
    const endpoint = `tcp://127.0.0.1:${port}`;
    this.client = new LmcacheMpClient(endpoint, LMCACHE_TIMEOUT_SECONDS * 1000);
    this.stats = {
      endpoint,
      registrations: 0,
      lookups: 0,
      retrieves: 0,
      retrievedTokens: 0,
      retrieveFailures: 0,
      mismatchedBlocks: 0,
      storeRequests: 0,
      storedTokens: 0,
      storeFailures: 0,
      pendingStores: 0,
      errors: 0,
    };
  }

  /** Creates the shared-memory KV cache (the server maps it when this instance registers, on first use). */
  static async open(port: number, model: string, log: Logger, defect: Defect): Promise<LmcacheConnector> {
    // Unique per process: containers on the host network share its host name, and each is PID 1.
    const kv = await SharedKvCache.create(`lmcache-sim-vllm-${randomUUID()}`, KV_GEOMETRY);
    // The files live in the host's /dev/shm (--ipc host): leave nothing behind on any exit but SIGKILL.
    process.once('exit', () => {
      for (const name of kv.shmNames) rmSync(path.join('/dev/shm', name), { force: true });
    });
    return new LmcacheConnector(port, model, kv, log, defect);
  }

  /** How many of a prompt's tokens the server could hold: whole chunks only, as it stores nothing else. */
  async cacheableTokens(promptTokens: number): Promise<number> {
    if (this.chunkTokens === null) await this.register();
    const chunk = this.chunkTokens!;
    return Math.floor(promptTokens / chunk) * chunk;
  }

  /** A region of blocks for one request, waiting while every region holds a store in flight. */
  acquireRegion(): Promise<number> {
    const region = this.freeRegions.pop();
    if (region !== undefined) return Promise.resolve(region);
    return new Promise((resolve) => this.regionWaiters.push(resolve));
  }

  releaseRegion(region: number): void {
    const waiter = this.regionWaiters.shift();
    if (waiter) waiter(region);
    else this.freeRegions.push(region);
  }

  /** How many of the first `cacheable` tokens the server holds; a hit stays read-locked for one retrieve. */
  async lookup(tokenIds: readonly number[], cacheable: number, requestId: string): Promise<number> {
    this.stats.lookups++;
    const chunks = await this.guarded('lookup', () => this.client.lookup(this.key(tokenIds, cacheable, requestId)));
    return chunks * this.chunkTokens!;
  }

  async freeLookupLocks(tokenIds: readonly number[], held: number, requestId: string): Promise<void> {
    await this.guarded('free_lookup_locks', () => this.client.freeLookupLocks(this.key(tokenIds, held, requestId)));
  }

  /**
   * Copies the KV of the first `tokens` tokens into the region's blocks and compares it with what the tokens give.
   * `corrupt` flips one byte per block after the copy (SIM_DEFECT=corrupt-on-hit, a faulty transfer).
   */
  async retrieve(
    tokenIds: readonly number[],
    tokens: number,
    requestId: string,
    region: number,
    corrupt: boolean,
  ): Promise<{ ok: boolean; mismatchedBlocks: number }> {
    this.stats.retrieves++;
    const blocks = tokens / BLOCK_TOKENS;
    const first = region * REGION_BLOCKS;
    const key = { ...this.key(tokenIds, tokens, requestId), workerId: 0 };
    // never-retrieve: the transfer is lost on the way, so the server only sees the lookup's locks go.
    const ok =
      this.defect.kind === 'never-retrieve'
        ? await this.freeLookupLocks(tokenIds, tokens, requestId).then(() => false)
        : await this.whileRegistered('retrieve', () =>
            this.client.retrieve(key, this.instanceId, range(first, blocks)),
          );
    if (!ok) {
      this.stats.retrieveFailures++;
      this.log(`LMCache retrieve of ${tokens} tokens for ${requestId} failed: prefilling them instead`, 'WARNING');
      return { ok: false, mismatchedBlocks: 0 };
    }
    if (corrupt) await this.flipOneBytePerBlock(first, blocks);
    let mismatchedBlocks = 0;
    for (let layer = 0; layer < KV_GEOMETRY.layers; layer++) {
      for (const plane of [0, 1]) {
        const got = await this.kv.readPlaneBlocks(layer, plane, first, blocks);
        const want = expectedKv(tokenIds, blocks, plane);
        for (let block = 0; block < blocks; block++) {
          const [from, to] = [block * this.kv.planeBlockBytes, (block + 1) * this.kv.planeBlockBytes];
          if (!got.subarray(from, to).equals(want.subarray(from, to))) mismatchedBlocks++;
        }
      }
    }
    this.stats.retrievedTokens += tokens;
    this.stats.mismatchedBlocks += mismatchedBlocks;
    if (mismatchedBlocks > 0) {
      this.log(`retrieved KV for ${requestId} differs from its tokens' in ${mismatchedBlocks} blocks`, 'WARNING');
    }
    return { ok: true, mismatchedBlocks };
  }

  /** Writes the KV of the first `tokens` tokens into the region's blocks and has the server store it. */
  async store(tokenIds: readonly number[], tokens: number, requestId: string, region: number): Promise<boolean> {
    this.stats.storeRequests++;
    if (this.defect.kind === 'store-fails') {
      this.stats.storeFailures++;
      this.log(
        `SIM_DEFECT=store-fails: the store of ${tokens} tokens for ${requestId} never reached LMCache`,
        'WARNING',
      );
      return false;
    }
    this.stats.pendingStores++;
    try {
      const blocks = tokens / BLOCK_TOKENS;
      const first = region * REGION_BLOCKS;
      for (let layer = 0; layer < KV_GEOMETRY.layers; layer++) {
        for (const plane of [0, 1]) {
          await this.kv.writePlaneBlocks(layer, plane, first, expectedKv(tokenIds, blocks, plane));
        }
      }
      const key = { ...this.key(tokenIds, tokens, requestId), workerId: 0 };
      const stored = await this.whileRegistered('store', () =>
        this.client.store(key, this.instanceId, range(first, blocks)),
      );
      if (stored) this.stats.storedTokens += tokens;
      else {
        this.stats.storeFailures++;
        this.log(`LMCache refused the store of ${tokens} tokens for ${requestId} (see its log)`, 'WARNING');
      }
      return stored;
    } finally {
      this.stats.pendingStores--;
    }
  }

  async endSession(requestId: string): Promise<void> {
    await this.guarded('end_session', () => this.client.endSession(requestId));
  }

  async close(): Promise<void> {
    this.client.close();
    await this.kv.close();
  }

  /** Registers this instance's KV cache; the server maps its shared-memory files. */
  private async register(): Promise<void> {
    await this.guarded('register_kv_cache', () =>
      this.client.registerKvCache({
        instanceId: this.instanceId,
        modelName: this.model,
        worldSize: 1,
        blockSize: KV_GEOMETRY.blockSize,
        tensors: this.kv.tensors(),
      }),
    );
    this.chunkTokens = await this.guarded('get_chunk_size', () => this.client.chunkSize());
    this.stats.registrations++;
    this.log(
      `registered KV cache with the LMCache server at ${this.stats.endpoint} as instance ${this.instanceId} ` +
        `(${this.kv.shmNames.join(', ')}; chunks of ${this.chunkTokens} tokens)`,
    );
  }

  /** A store or retrieve; refused (false), it is repeated once after registering again. */
  private async whileRegistered(operation: string, transfer: () => Promise<boolean>): Promise<boolean> {
    if (await this.guarded(operation, transfer)) return true;
    this.log(`LMCache server refused ${operation}: registering this instance again, then repeating it`, 'WARNING');
    await this.register();
    return this.guarded(operation, transfer);
  }

  private key(tokenIds: readonly number[], end: number, requestId: string): CacheKey {
    return {
      modelName: this.model,
      worldSize: 1,
      workerId: null,
      tokenIds: tokenIds.slice(0, end),
      start: 0,
      end,
      requestId,
      numKvReaders: 1,
    };
  }

  private async flipOneBytePerBlock(first: number, blocks: number): Promise<void> {
    const data = await this.kv.readPlaneBlocks(0, 0, first, blocks);
    for (let block = 0; block < blocks; block++) data[block * this.kv.planeBlockBytes] ^= 0x01;
    await this.kv.writePlaneBlocks(0, 0, first, data);
  }

  /** Counts a failed call and says which server did not answer, then rethrows. */
  private async guarded<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.stats.errors++;
      throw new Error(`LMCache ${operation} failed: ${(error as Error).message}`);
    }
  }
}

function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => first + index);
}
