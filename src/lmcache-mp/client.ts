/**
 * A client of LMCache's multiprocess server, as vLLM's LMCacheMPConnector is one (ZMQ DEALER, see ./wire.ts).
 * Every call has a timeout: the server sends no reply when a handler raises (its log says why), and none when it
 * is gone, so a call that is not answered in time fails with an LmcacheTimeoutError naming the operation.
 */
import { Dealer } from 'zeromq';
import {
  decodeReply,
  encodeKey,
  encodeRequest,
  encodeSharedTensor,
  type CacheKey,
  type Operation,
  type SharedTensor,
} from './wire.js';

export const DEFAULT_CALL_TIMEOUT_MS = 5000;
/** How often a lookup's result is asked for: the server prefetches hit chunks before it answers. */
const PREFETCH_POLL_MS = 5;
/** A CPU KV cache has no device events; the server's stub accepts any handle bytes. */
const CPU_EVENT_HANDLE = Buffer.from('stub_ipc_handle');

export class LmcacheTimeoutError extends Error {
  constructor(
    readonly operation: Operation,
    readonly endpoint: string,
    readonly timeoutMs: number,
  ) {
    super(
      `LMCache server at ${endpoint} did not answer ${operation} within ${timeoutMs} ms ` +
        '(stopped, or its handler failed: see its log)',
    );
    this.name = 'LmcacheTimeoutError';
  }
}

/** What a vLLM worker declares when it registers its paged KV cache (one tensor per layer, [2, blocks, …]). */
export interface KvRegistration {
  instanceId: number;
  modelName: string;
  worldSize: number;
  blockSize: number;
  tensors: SharedTensor[];
}

interface PendingCall {
  operation: Operation;
  resolve: (response: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class LmcacheMpClient {
  private readonly socket = new Dealer({ linger: 0 });
  private readonly pending = new Map<number, PendingCall>();
  private nextUid = 0;
  /** zeromq allows one send in progress per socket: sends queue here. */
  private sending: Promise<void> = Promise.resolve();

  /** `endpoint` as ZMQ spells it: tcp://127.0.0.1:6555. Connecting never waits; calls do. */
  constructor(
    readonly endpoint: string,
    private readonly timeoutMs = DEFAULT_CALL_TIMEOUT_MS,
  ) {
    this.socket.connect(endpoint);
    void this.receiveReplies();
  }

  private async receiveReplies(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        const reply = decodeReply(frames);
        const call = this.pending.get(reply.uid);
        if (!call) continue; // answered after its timeout
        this.pending.delete(reply.uid);
        clearTimeout(call.timer);
        if (reply.operation !== call.operation) {
          call.reject(new Error(`LMCache server answered ${reply.operation} to ${call.operation}`));
        } else call.resolve(reply.response);
      }
    } catch (error) {
      if (!this.socket.closed) this.failAll(error as Error);
    }
  }

  private failAll(error: Error): void {
    for (const [uid, call] of this.pending) {
      clearTimeout(call.timer);
      this.pending.delete(uid);
      call.reject(error);
    }
  }

  call(operation: Operation, payloads: unknown[] = [], timeoutMs = this.timeoutMs): Promise<unknown> {
    if (this.socket.closed) return Promise.reject(new Error(`LMCache client for ${this.endpoint} is closed`));
    const uid = this.nextUid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(uid);
        reject(new LmcacheTimeoutError(operation, this.endpoint, timeoutMs));
      }, timeoutMs);
      this.pending.set(uid, { operation, resolve, reject, timer });
      const frames = encodeRequest(uid, operation, payloads);
      this.sending = this.sending
        .then(() => this.socket.send(frames))
        .catch((error: Error) => {
          const call = this.pending.get(uid);
          if (!call) return;
          this.pending.delete(uid);
          clearTimeout(call.timer);
          call.reject(new Error(`sending ${operation} to LMCache server at ${this.endpoint} failed: ${error.message}`));
        });
    });
  }

  /** Answers 'OK' without touching any state: the liveness probe. */
  async noop(timeoutMs?: number): Promise<string> {
    return String(await this.call('noop', [], timeoutMs));
  }

  /** True when the server knows `instanceId` (null: the server itself answers). */
  async ping(instanceId: number | null, timeoutMs?: number): Promise<boolean> {
    return Boolean(await this.call('ping', [instanceId], timeoutMs));
  }

  /** Tokens per chunk: the unit the server hashes, stores, looks up and evicts. */
  async chunkSize(): Promise<number> {
    return Number(await this.call('get_chunk_size'));
  }

  /** Registers a KV cache of vLLM's NHD layout in one KV group; the server maps the shared-memory files. */
  async registerKvCache(registration: KvRegistration): Promise<void> {
    const layers = registration.tensors.map((_, index) => index);
    const group = {
      engine_group_id: 0,
      layer_indices: layers,
      tokens_per_block: registration.blockSize,
      sw_size_tokens: -1,
      extra_object_group_tag: 0,
      recurrent_state: false,
    };
    await this.call('register_kv_cache', [
      registration.instanceId,
      registration.tensors.map(encodeSharedTensor),
      registration.modelName,
      registration.worldSize,
      'vllm',
      { kv_layout: 'NHD' },
      [group],
    ]);
  }

  /**
   * Looks up the key's prefix and waits for the answer: how many chunks from the first are held. The hits are
   * read-locked for `key.numKvReaders` retrieves (or until freeLookupLocks).
   */
  async lookup(key: CacheKey, timeoutMs = this.timeoutMs): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    await this.call('lookup', [encodeKey({ ...key, workerId: null }), key.worldSize], timeoutMs);
    for (;;) {
      const status = await this.call('query_prefetch_status', [key.requestId], Math.max(1, deadline - Date.now()));
      if (status !== null && status !== undefined) return Number(status);
      if (Date.now() >= deadline) throw new LmcacheTimeoutError('query_prefetch_status', this.endpoint, timeoutMs);
      await new Promise((resolve) => setTimeout(resolve, PREFETCH_POLL_MS));
    }
  }

  async freeLookupLocks(key: CacheKey): Promise<void> {
    await this.call('free_lookup_locks', [encodeKey({ ...key, workerId: null }), key.worldSize]);
  }

  /** Stores [start, end) of the key from the given blocks (one block id per `blockSize` tokens); true when stored. */
  async store(key: CacheKey, instanceId: number, blockIds: number[]): Promise<boolean> {
    const reply = await this.call('store', [encodeKey(key), instanceId, [blockIds], CPU_EVENT_HANDLE]);
    return transferSucceeded(reply);
  }

  /** Copies [start, end) of the key into the given blocks; true when the server had every chunk. */
  async retrieve(key: CacheKey, instanceId: number, blockIds: number[], skipFirstTokens = 0): Promise<boolean> {
    const reply = await this.call('retrieve', [
      encodeKey(key),
      instanceId,
      [blockIds],
      CPU_EVENT_HANDLE,
      skipFirstTokens,
    ]);
    return transferSucceeded(reply);
  }

  /** Drops every stored chunk that no lookup or transfer holds (`force` drops those too). */
  async clear(force = false): Promise<void> {
    await this.call('clear', [force]);
  }

  /** Ends a request's session: the server drops what it kept for it. */
  async endSession(requestId: string): Promise<void> {
    await this.call('end_session', [requestId]);
  }

  close(): void {
    this.failAll(new Error(`LMCache client for ${this.endpoint} was closed`));
    this.socket.close();
  }
}

/** store and retrieve answer [event handle, success]. */
function transferSucceeded(reply: unknown): boolean {
  return Array.isArray(reply) && reply[1] === true;
}
