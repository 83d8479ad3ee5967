/**
 * The wire protocol between the vLLM-like server and the LMCache-like server: one JSON object per line over
 * TCP, each request carrying an `id` that its reply echoes, so one connection carries many requests at once.
 *
 *   {"id":1,"op":"lookup","keys":[...]}  ->  {"id":1,"ok":true,"hits":N}   N = leading keys present
 *   {"id":2,"op":"store","keys":[...]}   ->  {"id":2,"ok":true,"stored":N,"evicted":M}
 *   {"id":3,"op":"stats"}                ->  {"id":3,"ok":true,"stats":{...}}
 *   anything wrong                       ->  {"id":..,"ok":false,"error":"..."}
 *
 * Keys are block keys (see prefix-cache.ts); every block holds BLOCK_TOKENS tokens. No KV bytes travel:
 * the cost of moving them is modelled by the vLLM-like server.
 */
import type { Socket } from 'node:net';

export type LmcacheRequest =
  | { id: number; op: 'lookup'; keys: string[] }
  | { id: number; op: 'store'; keys: string[] }
  | { id: number; op: 'stats' };

export interface LmcacheStats {
  capacityTokens: number;
  usedTokens: number;
  lookups: number;
  lookupHitTokens: number;
  storeRequests: number;
  storedTokens: number;
  evictedTokens: number;
  connections: number;
  defect: string;
}

export type LmcacheReply =
  | { id: number; ok: true; hits: number }
  | { id: number; ok: true; stored: number; evicted: number }
  | { id: number; ok: true; stats: LmcacheStats }
  | { id: number | null; ok: false; error: string };

/** Calls `onLine` for each complete line the socket receives. */
export function readLines(socket: Socket, onLine: (line: string) => void): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() !== '') onLine(line);
    }
  });
}
