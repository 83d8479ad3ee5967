/**
 * The vLLM-like server's engine: one "GPU" that runs one prefill at a time, a finite GPU prefix cache, and,
 * when LMCache is configured, lookups, loads and stores against the LMCache-like server. Time is simulated
 * by sleeping, so the CPU stays idle and results do not depend on the machine's speed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BLOCK_TOKENS,
  LMCACHE_LOAD_SECONDS_PER_TOKEN,
  PREFILL_SECONDS_PER_TOKEN,
  SLOW_LOAD_SECONDS_PER_TOKEN,
  SLOW_STORE_SECONDS_PER_TOKEN,
} from './cost-model.js';
import type { Defect } from './defects.js';
import type { LmcacheClient } from './lmcache-client.js';
import type { Logger } from './log.js';
import { BlockLru, blockKeys } from './prefix-cache.js';

export interface PrefillResult {
  promptTokens: number;
  gpuHitTokens: number;
  lmcacheHitTokens: number;
  prefillTokens: number;
  /** Seconds spent waiting for the GPU behind other prefills. */
  queueSeconds: number;
  /** Non-zero only under corrupt-on-hit: the model's output variant. */
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
  lmcache: null | {
    port: number;
    lookups: number;
    lookupErrors: number;
    storeRequests: number;
    storedTokens: number;
    storeErrors: number;
    pendingStores: number;
  };
}

export class Engine {
  private readonly gpuCache: BlockLru;
  private resets = 0;
  /** The tail of the chain of prefills: each waits for the previous one, as one GPU computes one prefill at a time. */
  private gpuQueue: Promise<unknown> = Promise.resolve();
  private readonly totals = { sequences: 0, promptTokens: 0, gpuHitTokens: 0, lmcacheHitTokens: 0, prefillTokens: 0 };
  private readonly modelled = { prefill: 0, load: 0, store: 0 };
  private readonly lmcacheTotals = {
    lookups: 0,
    lookupErrors: 0,
    storeRequests: 0,
    storedTokens: 0,
    storeErrors: 0,
    pendingStores: 0,
  };

  constructor(
    gpuCacheTokens: number,
    private readonly lmcache: LmcacheClient | null,
    /** Already reduced to `none` on a server without LMCache. */
    private readonly defect: Defect,
    private readonly log: Logger,
  ) {
    this.gpuCache = new BlockLru(Math.floor(gpuCacheTokens / BLOCK_TOKENS));
  }

  /** Runs the prompt's prefill on the GPU once the GPU is free; resolves when its first token exists. */
  prefill(tokens: readonly string[]): Promise<PrefillResult> {
    const queued = performance.now();
    const run = this.gpuQueue.then(() => this.prefillOnGpu(tokens, (performance.now() - queued) / 1000));
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
      lmcache: this.lmcache ? { port: this.lmcache.port, ...this.lmcacheTotals } : null,
    };
  }

  private async prefillOnGpu(tokens: readonly string[], queueSeconds: number): Promise<PrefillResult> {
    const keys = blockKeys(tokens);
    // Lookups happen when the request gets the GPU, as vLLM's scheduler does, so a prompt queued behind
    // another with the same prefix finds that prefix cached.
    const gpuBlocks = this.gpuCache.matchPrefix(keys);
    const lmcacheBlocks = gpuBlocks < keys.length ? await this.lookup(keys.slice(gpuBlocks)) : 0;
    // With every token cached the last one is still computed, to produce the first output token.
    const cachedTokens = Math.min((gpuBlocks + lmcacheBlocks) * BLOCK_TOKENS, tokens.length - 1);
    const gpuHitTokens = Math.min(gpuBlocks * BLOCK_TOKENS, cachedTokens);
    const lmcacheHitTokens = cachedTokens - gpuHitTokens;
    const prefillTokens = tokens.length - cachedTokens;

    const loadSeconds =
      lmcacheHitTokens *
      (this.defect.kind === 'slow-load' ? SLOW_LOAD_SECONDS_PER_TOKEN : LMCACHE_LOAD_SECONDS_PER_TOKEN);
    const prefillSeconds = prefillTokens * PREFILL_SECONDS_PER_TOKEN;
    await sleep((loadSeconds + prefillSeconds) * 1000);
    this.modelled.load += loadSeconds;
    this.modelled.prefill += prefillSeconds;

    this.gpuCache.insert(keys);
    const computed = keys.slice(gpuBlocks + lmcacheBlocks);
    if (this.lmcache && computed.length > 0) {
      if (this.defect.kind === 'slow-store') {
        // The store blocks the GPU (a synchronous offload), so every request behind it waits too.
        const storeSeconds = computed.length * BLOCK_TOKENS * SLOW_STORE_SECONDS_PER_TOKEN;
        await Promise.all([this.store(computed), sleep(storeSeconds * 1000)]);
        this.modelled.store += storeSeconds;
      } else {
        // Off the critical path, as LMCache stores asynchronously.
        void this.store(computed);
      }
    }

    this.totals.sequences++;
    this.totals.promptTokens += tokens.length;
    this.totals.gpuHitTokens += gpuHitTokens;
    this.totals.lmcacheHitTokens += lmcacheHitTokens;
    this.totals.prefillTokens += prefillTokens;
    const corruption = this.defect.kind === 'corrupt-on-hit' ? cachedTokens : 0;
    return { promptTokens: tokens.length, gpuHitTokens, lmcacheHitTokens, prefillTokens, queueSeconds, corruption };
  }

  private async lookup(keys: string[]): Promise<number> {
    if (!this.lmcache) return 0;
    this.lmcacheTotals.lookups++;
    try {
      return await this.lmcache.lookup(keys);
    } catch (error) {
      this.lmcacheTotals.lookupErrors++;
      this.log(`LMCache lookup failed, prefilling instead: ${(error as Error).message}`, 'WARNING');
      return 0;
    }
  }

  private async store(keys: string[]): Promise<void> {
    if (!this.lmcache) return;
    this.lmcacheTotals.storeRequests++;
    this.lmcacheTotals.pendingStores++;
    try {
      const { stored } = await this.lmcache.store(keys);
      this.lmcacheTotals.storedTokens += stored * BLOCK_TOKENS;
    } catch (error) {
      this.lmcacheTotals.storeErrors++;
      this.log(`LMCache store of ${keys.length} blocks failed: ${(error as Error).message}`, 'WARNING');
    } finally {
      this.lmcacheTotals.pendingStores--;
    }
  }
}
