/**
 * The LMCache-like server of the sim profile: a bounded LRU store of KV blocks keyed by prefix hashes,
 * reached over TCP (protocol in lmcache-protocol.ts). Same argv as `python3 -m lmcache.v1.multiprocess.server`.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { parseLmcacheArgs, type LmcacheArgs } from './args.js';
import { UsageError } from './usage-error.js';
import { BLOCK_TOKENS, LMCACHE_TOKENS_PER_GB, lmcacheCapacityTokens } from './cost-model.js';
import { describeDefect, parseDefect, type Defect } from './defects.js';
import { createLogger, exitOnSignals, listenOrExit } from './log.js';
import { readLines, type LmcacheReply, type LmcacheStats } from './lmcache-protocol.js';
import { BlockLru } from './prefix-cache.js';

const log = createLogger('sim-lmcache');

let args: LmcacheArgs;
let defect: Defect;
try {
  args = parseLmcacheArgs(process.argv.slice(2));
  defect = parseDefect(process.env.SIM_DEFECT);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`lmcache-server: ${error.message}\n`);
  process.exit(2);
}

const capacityTokens = lmcacheCapacityTokens(args.l1SizeGb);
const store = new BlockLru(Math.floor(capacityTokens / BLOCK_TOKENS));
const stats: Omit<LmcacheStats, 'usedTokens' | 'evictedTokens'> = {
  capacityTokens,
  lookups: 0,
  lookupHitTokens: 0,
  storeRequests: 0,
  storedTokens: 0,
  connections: 0,
  defect: describeDefect(defect),
};

function snapshot(): LmcacheStats {
  return { ...stats, usedTokens: store.size * BLOCK_TOKENS, evictedTokens: store.evictedBlocks * BLOCK_TOKENS };
}

function isKeyList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((key) => typeof key === 'string');
}

function answer(line: string): LmcacheReply {
  let request: { id?: unknown; op?: unknown; keys?: unknown };
  try {
    request = JSON.parse(line);
  } catch {
    return { id: null, ok: false, error: 'request is not JSON' };
  }
  const id = typeof request.id === 'number' ? request.id : null;
  if (id === null) return { id, ok: false, error: 'request has no numeric id' };
  switch (request.op) {
    case 'lookup': {
      if (!isKeyList(request.keys)) return { id, ok: false, error: 'lookup needs keys: string[]' };
      const found = store.matchPrefix(request.keys);
      // never-hit keeps storing but reports nothing, as a lookup path that is broken.
      const hits = defect.kind === 'never-hit' ? 0 : found;
      stats.lookups++;
      stats.lookupHitTokens += hits * BLOCK_TOKENS;
      log(
        `lookup: ${request.keys.length} blocks asked, ${hits} hit (${hits * BLOCK_TOKENS} tokens)` +
          (hits !== found ? ` [SIM_DEFECT=never-hit hid ${found}]` : ''),
      );
      return { id, ok: true, hits };
    }
    case 'store': {
      if (!isKeyList(request.keys)) return { id, ok: false, error: 'store needs keys: string[]' };
      const { added, evicted } = store.insert(request.keys);
      stats.storeRequests++;
      stats.storedTokens += added * BLOCK_TOKENS;
      log(
        `store: ${added} new blocks (${added * BLOCK_TOKENS} tokens), ${evicted} evicted (LRU); ` +
          `in use ${store.size * BLOCK_TOKENS}/${capacityTokens} tokens`,
      );
      return { id, ok: true, stored: added, evicted };
    }
    case 'stats':
      return { id, ok: true, stats: snapshot() };
    default:
      return { id, ok: false, error: `unknown op ${JSON.stringify(request.op)}; known: lookup, store, stats` };
  }
}

const sockets = new Set<Socket>();
const server = createServer((socket) => {
  stats.connections++;
  sockets.add(socket);
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  log(`connection from ${peer} (${sockets.size} open)`);
  readLines(socket, (line) => socket.write(`${JSON.stringify(answer(line))}\n`));
  socket.on('error', (error) => log(`connection ${peer}: ${error.message}`, 'WARNING'));
  socket.on('close', () => sockets.delete(socket));
});

listenOrExit(server, args.host, args.port, log, (port) => {
  log(
    `LMCache sim server listening on ${args.host}:${port}: L1 ${args.l1SizeGb} GB = ${capacityTokens} tokens ` +
      `(${LMCACHE_TOKENS_PER_GB} tokens/GB, ${BLOCK_TOKENS}-token blocks), eviction ${args.evictionPolicy}, ` +
      `max workers ${args.maxWorkers} (the sim serves every request on one event loop), SIM_DEFECT=${describeDefect(defect)}`,
  );
});

// LMCache's Prometheus exporter, on all interfaces as the real one: a port taken by another run stops this one.
const metrics = createHttpServer((_request, response) => {
  const current = snapshot();
  response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
  response.end(
    `lmcache_sim_lookups_total ${current.lookups}\nlmcache_sim_lookup_hit_tokens_total ${current.lookupHitTokens}\n` +
      `lmcache_sim_used_tokens ${current.usedTokens}\n`,
  );
});
listenOrExit(metrics, '0.0.0.0', args.prometheusPort, log, (port) => log(`Prometheus metrics on 0.0.0.0:${port}`));

exitOnSignals(log, () => {
  metrics.close();
  log(`final stats: ${JSON.stringify(snapshot())}`);
  server.close();
  for (const socket of sockets) socket.destroy();
});
