/**
 * The vLLM-like server's connection to the LMCache-like server (LMCacheMPConnector's role). It connects
 * lazily and reconnects after a failure, so the order in which the containers start does not matter, and a
 * dead or hung LMCache server degrades to cache misses (with a log line) instead of failing requests.
 */
import { connect, type Socket } from 'node:net';
import { LMCACHE_TIMEOUT_SECONDS } from './cost-model.js';
import { readLines, type LmcacheReply, type LmcacheRequest, type LmcacheStats } from './lmcache-protocol.js';

type Pending = { resolve: (reply: LmcacheReply) => void; reject: (error: Error) => void; timer: NodeJS.Timeout };

/** Distributes a request over its union members, so each `op` keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Request = WithoutId<LmcacheRequest>;

export class LmcacheClient {
  private socket: Socket | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly timeoutMs = LMCACHE_TIMEOUT_SECONDS * 1000,
  ) {}

  /** Number of leading `keys` the store holds (and will serve). */
  async lookup(keys: string[]): Promise<number> {
    const reply = await this.request({ op: 'lookup', keys });
    if (!('hits' in reply)) throw new Error('LMCache server sent a malformed lookup reply');
    return reply.hits;
  }

  async store(keys: string[]): Promise<{ stored: number; evicted: number }> {
    const reply = await this.request({ op: 'store', keys });
    if (!('stored' in reply)) throw new Error('LMCache server sent a malformed store reply');
    return { stored: reply.stored, evicted: reply.evicted };
  }

  async stats(): Promise<LmcacheStats> {
    const reply = await this.request({ op: 'stats' });
    if (!('stats' in reply)) throw new Error('LMCache server sent a malformed stats reply');
    return reply.stats;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private request(body: Request): Promise<LmcacheReply & { ok: true }> {
    const socket = this.connection();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new Error(
            `LMCache server at ${this.host}:${this.port} did not answer ${body.op} within ${this.timeoutMs} ms`,
          ),
        );
      }, this.timeoutMs);
      this.pending.set(id, {
        resolve: (reply) =>
          reply.ok ? resolve(reply) : reject(new Error(`LMCache server refused ${body.op}: ${reply.error}`)),
        reject,
        timer,
      });
      socket.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  private connection(): Socket {
    if (this.socket) return this.socket;
    const socket = connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    readLines(socket, (line) => {
      let reply: LmcacheReply;
      try {
        reply = JSON.parse(line) as LmcacheReply;
      } catch {
        return this.fail(socket, new Error(`LMCache server sent a line that is not JSON: ${line.slice(0, 100)}`));
      }
      const waiter = reply.id === null ? undefined : this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id!);
      clearTimeout(waiter.timer);
      waiter.resolve(reply);
    });
    socket.on('error', (error) => this.fail(socket, error));
    socket.on('close', () =>
      this.fail(socket, new Error(`connection to LMCache server at ${this.host}:${this.port} closed`)),
    );
    this.socket = socket;
    return socket;
  }

  /** Fails every request waiting on `socket`, and forgets it so that the next request reconnects. */
  private fail(socket: Socket, error: Error): void {
    if (this.socket !== socket) return;
    this.socket = null;
    socket.destroy();
    for (const [id, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
      this.pending.delete(id);
    }
  }
}
