/**
 * The vLLM-like server's engine: one "GPU" that runs one prefill at a time, a finite GPU prefix cache, and, when
 * LMCache is configured, its connector to the real LMCache server: a lookup of each prompt, a retrieve of the
 * chunks the GPU cache lacks, a store of the chunks the server lacks. Time is simulated by sleeping, so the CPU
 * stays idle and results do not depend on the machine's speed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BLOCK_TOKENS,
  LMCACHE_LOAD_SECONDS_PER_TOKEN,
  PREFILL_SECONDS_PER_TOKEN,
  SLOW_LOAD_SECONDS_PER_TOKEN,
  SLOW_STORE_SECONDS_PER_TOKEN,
  slowStoreShareOfPrefill,
} from './cost-model.js';
import type { Defect } from './defects.js';
import type { ConnectorStats, LmcacheConnector } from './lmcache-connector.js';
import type { Logger } from './log.js';
import type { GpuNoise } from './noise.js';
import { BlockLru, blockKeys } from './prefix-cache.js';
import { stableTokenId } from './vocab.js';

export interface PrefillResult {
  promptTokens: number;
  gpuHitTokens: number;
  lmcacheHitTokens: number;
  prefillTokens: number;
  /** Seconds spent waiting for the GPU behind other prefills. */
  queueSeconds: number;
  /** Blocks of retrieved KV that did not match the prompt: non-zero changes the model's output. */
  corruption: number;
}

export interface EngineStats {
  sequences: number;
  promptTokens: number;
  gpuHitTokens: number;
  lmcacheHitTokens: number;
  prefillTokens: number;
  /** Simulated GPU seconds by kind; `store` is only non-zero under slow-store (stores are otherwise off the GPU path). */
  modelledSeconds: { prefill: number; load: number; store: number };
  gpuCache: { resets: number; capacityTokens: number; usedTokens: number; evictedTokens: number };
  lmcache: null | ConnectorStats;
}

interface LookupResult {
  tokenIds: number[];
  /** The prompt's tokens in whole chunks: what the server could hold. */
  cacheable: number;
  /** Of those, from the first, what it holds. */
  held: number;
}

export class Engine {
  private readonly gpuCache: BlockLru;
  private resets = 0;
  /** The tail of the chain of prefills: each waits for the previous one, as one GPU computes one prefill at a time. */
  private gpuQueue: Promise<unknown> = Promise.resolve();
  private readonly totals = { sequences: 0, promptTokens: 0, gpuHitTokens: 0, lmcacheHitTokens: 0, prefillTokens: 0 };
  private readonly modelled = { prefill: 0, load: 0, store: 0 };
  private requestCount = 0;

  constructor(
    gpuCacheTokens: number,
    private readonly lmcache: LmcacheConnector | null,
    /** Already reduced to `none` on a server without LMCache. */
    private readonly defect: Defect,
    private readonly log: Logger,
    private readonly noise: GpuNoise,
  ) {
    this.gpuCache = new BlockLru(Math.floor(gpuCacheTokens / BLOCK_TOKENS));
  }

  /**
   * Runs the prompt's prefill on the GPU once the GPU is free; resolves when its first token exists. The LMCache
   * lookup starts at once, off the GPU, as vLLM's scheduler has LMCache prefetch while other requests compute.
   */
  prefill(tokens: readonly string[]): Promise<PrefillResult> {
    const queued = performance.now();
    const requestId = `sim-prefill-${++this.requestCount}`;
    const lookup = this.lmcache ? this.lookUp(tokens, requestId) : null;
    // Awaited on the GPU; a failure reaches the request from there.
    lookup?.catch(() => undefined);
    const run = this.gpuQueue.then(() =>
      this.prefillOnGpu(tokens, requestId, lookup, (performance.now() - queued) / 1000),
    );
    this.gpuQueue = run.catch(() => undefined);
    return run;
  }

  /** Empties the GPU prefix cache, as vLLM's POST /reset_prefix_cache does. */
  resetPrefixCache(): void {
    this.gpuCache.clear();
    this.resets++;
  }

  stats(): EngineStats {
    return {
      ...this.totals,
      modelledSeconds: { ...this.modelled },
      gpuCache: {
        resets: this.resets,
        capacityTokens: this.gpuCache.capacityBlocks * BLOCK_TOKENS,
        usedTokens: this.gpuCache.size * BLOCK_TOKENS,
        evictedTokens: this.gpuCache.evictedBlocks * BLOCK_TOKENS,
      },
      lmcache: this.lmcache ? { ...this.lmcache.stats } : null,
    };
  }

  private async prefillOnGpu(
    tokens: readonly string[],
    requestId: string,
    lookup: Promise<LookupResult> | null,
    queueSeconds: number,
  ): Promise<PrefillResult> {
    const gpuStarted = performance.now();
    const keys = blockKeys(tokens);
    // The GPU cache is matched when the request gets the GPU, as vLLM's scheduler does, so a prompt queued behind
    // another with the same prefix finds that prefix cached.
    const gpuTokens = this.gpuCache.matchPrefix(keys) * BLOCK_TOKENS;
    const found = lookup ? await lookup : null;
    const region = found ? await this.lmcache!.acquireRegion() : null;
    let loaded = { tokens: 0, mismatchedBlocks: 0 };
    try {
      if (found) loaded = await this.load(found, gpuTokens, requestId, region!);
    } catch (error) {
      this.lmcache!.releaseRegion(region!);
      throw error;
    }
    // With every token cached the last one is still computed, to produce the first output token.
    const cachedTokens = Math.min(gpuTokens + loaded.tokens, tokens.length - 1);
    const gpuHitTokens = Math.min(gpuTokens, cachedTokens);
    const lmcacheHitTokens = cachedTokens - gpuHitTokens;
    const prefillTokens = tokens.length - cachedTokens;

    // One prefill is one batch: the node's interference stretches or shrinks all of its GPU time alike.
    const noise = this.noise.nextFactor();
    const loadSeconds = noise * this.loadSeconds(lmcacheHitTokens);
    const prefillSeconds = noise * prefillTokens * PREFILL_SECONDS_PER_TOKEN;
    // The retrieve's own time counts as part of the modelled load: a GPU step lasts what the model says, or what
    // the real transfer took if that was longer.
    await sleep(Math.max(0, (loadSeconds + prefillSeconds) * 1000 - (performance.now() - gpuStarted)));
    this.modelled.load += loadSeconds;
    this.modelled.prefill += prefillSeconds;
    this.gpuCache.insert(keys);

    if (found) {
      const { tokenIds, cacheable, held } = found;
      // Only chunks the server lacks are stored, off the request's path, as LMCache stores asynchronously; the
      // region stays the store's until it is done.
      const stored = cacheable > held ? this.store(tokenIds, cacheable, requestId, region!) : Promise.resolve();
      if (this.defect.kind === 'slow-store' && cacheable > held) {
        // A synchronous offload: the store holds the GPU, so every request behind it waits too.
        const { percent } = this.defect;
        const storeSeconds =
          percent === undefined
            ? noise * (cacheable - held) * SLOW_STORE_SECONDS_PER_TOKEN
            : prefillSeconds * slowStoreShareOfPrefill(percent);
        await Promise.all([stored, sleep(storeSeconds * 1000)]);
        this.modelled.store += storeSeconds;
      }
      void stored.then(() => this.endSession(requestId)).finally(() => this.lmcache!.releaseRegion(region!));
    }

    this.totals.sequences++;
    this.totals.promptTokens += tokens.length;
    this.totals.gpuHitTokens += gpuHitTokens;
    this.totals.lmcacheHitTokens += lmcacheHitTokens;
    this.totals.prefillTokens += prefillTokens;
    return {
      promptTokens: tokens.length,
      gpuHitTokens,
      lmcacheHitTokens,
      prefillTokens,
      queueSeconds,
      corruption: loaded.mismatchedBlocks,
    };
  }

  /** Modelled seconds to load `tokens` from LMCache: slow-load's per-token cost, or its extra ms per retrieve. */
  private loadSeconds(tokens: number): number {
    if (tokens === 0) return 0;
    if (this.defect.kind !== 'slow-load') return tokens * LMCACHE_LOAD_SECONDS_PER_TOKEN;
    const { ms } = this.defect;
    return ms === undefined
      ? tokens * SLOW_LOAD_SECONDS_PER_TOKEN
      : tokens * LMCACHE_LOAD_SECONDS_PER_TOKEN + ms / 1000;
  }

  /** The prompt's whole chunks and how many of them, from the first, the LMCache server holds (read-locked). */
  private async lookUp(tokens: readonly string[], requestId: string): Promise<LookupResult> {
    const connector = this.lmcache!;
    const tokenIds = tokens.map(stableTokenId);
    const cacheable = await connector.cacheableTokens(tokens.length);
    const held = cacheable > 0 ? await connector.lookup(tokenIds, cacheable, requestId) : 0;
    return { tokenIds, cacheable, held };
  }

  /**
   * Retrieves what the server holds beyond the GPU cache's prefix into the request's region. A server that does
   * not answer fails the request (the error names it), as vLLM's connector would.
   */
  private async load(found: LookupResult, gpuTokens: number, requestId: string, region: number) {
    const connector = this.lmcache!;
    const { tokenIds, held } = found;
    // never-hit: the connector drops what the lookup found.
    const usable = this.defect.kind === 'never-hit' ? 0 : held;
    if (this.defect.kind === 'never-hit' && held > 0) {
      this.log(`SIM_DEFECT=never-hit dropped a lookup hit of ${held} tokens for ${requestId}`, 'WARNING');
    }
    if (usable > gpuTokens) {
      const corrupt = this.defect.kind === 'corrupt-on-hit';
      const retrieved = await connector.retrieve(tokenIds, usable, requestId, region, corrupt);
      if (retrieved.ok) return { tokens: usable - gpuTokens, mismatchedBlocks: retrieved.mismatchedBlocks };
    } else if (held > 0) {
      // Nothing to retrieve: the read locks the lookup took are released, so the server may evict those chunks.
      await connector.freeLookupLocks(tokenIds, held, requestId);
    }
    return { tokens: 0, mismatchedBlocks: 0 };
  }

  private async store(tokenIds: readonly number[], tokens: number, requestId: string, region: number): Promise<void> {
    try {
      await this.lmcache!.store(tokenIds, tokens, requestId, region);
    } catch (error) {
      this.log(`LMCache store of ${tokens} tokens for ${requestId} failed: ${(error as Error).message}`, 'WARNING');
    }
  }

  private async endSession(requestId: string): Promise<void> {
    try {
      await this.lmcache!.endSession(requestId);
    } catch (error) {
      this.log(`LMCache end_session of ${requestId} failed: ${(error as Error).message}`, 'WARNING');
    }
  }
}
