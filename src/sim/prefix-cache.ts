/**
 * The vLLM-like server's GPU prefix cache: blocks keyed by chained hashes. A block's key hashes the previous block's key with the block's tokens, so it stands for the whole
 * prefix up to the block's end: two prompts share a key only if they agree on every token before it.
 */
import { createHash } from 'node:crypto';
import { BLOCK_TOKENS } from './cost-model.js';

/** Keys of the prompt's full blocks, in order; a trailing partial block has no key (it is always prefilled). */
export function blockKeys(tokens: readonly string[]): string[] {
  const keys: string[] = [];
  let previous = 'sim-prefix-root';
  for (let end = BLOCK_TOKENS; end <= tokens.length; end += BLOCK_TOKENS) {
    // Tokens never contain whitespace, so joining with a space is unambiguous.
    previous = createHash('sha256')
      .update(previous)
      .update('\n')
      .update(tokens.slice(end - BLOCK_TOKENS, end).join(' '))
      .digest('hex')
      .slice(0, 32);
    keys.push(previous);
  }
  return keys;
}

/**
 * A set of block keys bounded by a number of blocks, evicting the least recently used.
 *
 * A chain is always touched from its last block to its first, so a prefix's head is more recent than its
 * tail and eviction eats prompts from the end, as vLLM frees a request's blocks in reverse: a partly evicted
 * prompt keeps a usable prefix.
 */
export class BlockLru {
  /** Map iteration order is insertion order: the first entry is the least recently used. */
  private readonly blocks = new Map<string, true>();
  evictedBlocks = 0;

  constructor(readonly capacityBlocks: number) {}

  get size(): number {
    return this.blocks.size;
  }

  /** How many of `keys`, from the first on, are present; touches those. */
  matchPrefix(keys: readonly string[]): number {
    let hits = 0;
    while (hits < keys.length && this.blocks.has(keys[hits])) hits++;
    this.touch(keys.slice(0, hits));
    return hits;
  }

  /** Adds or touches `keys`, evicting the least recently used blocks beyond capacity. Returns how many were new. */
  insert(keys: readonly string[]): { added: number; evicted: number } {
    const added = new Set(keys.filter((key) => !this.blocks.has(key))).size;
    this.touch(keys);
    let evicted = 0;
    for (const oldest of this.blocks.keys()) {
      if (this.blocks.size <= this.capacityBlocks) break;
      this.blocks.delete(oldest);
      evicted++;
    }
    this.evictedBlocks += evicted;
    return { added, evicted };
  }

  /** Forgets every block (vLLM's reset_prefix_cache). */
  clear(): void {
    this.blocks.clear();
  }

  private touch(keys: readonly string[]): void {
    for (let i = keys.length - 1; i >= 0; i--) {
      this.blocks.delete(keys[i]);
      this.blocks.set(keys[i], true);
    }
  }
}
