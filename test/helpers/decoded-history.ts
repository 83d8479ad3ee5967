/**
 * A run's history as text a person could read, every payload decoded with the SDK's payload converter: workflow
 * and activity inputs and results, failures and their details (nested causes included), heartbeat details, memo,
 * search attributes, headers and UI summaries. In `temporal workflow show -o json` these are base64, so a search of
 * the raw JSON for a secret finds nothing even where the secret is. With the files a run wrote and the logs, it
 * shows that a secret is nowhere in a run.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';

type Payload = { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null };

function isPayload(value: object): value is Payload {
  return 'data' in value && value.data instanceof Uint8Array && 'metadata' in value;
}

/** The payload's value as the SDK decodes it; bytes it has no converter for, as UTF-8 text. */
function decodePayload(payload: Payload): unknown {
  try {
    const value = defaultPayloadConverter.fromPayload(payload);
    return value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : value;
  } catch {
    return Buffer.from(payload.data ?? []).toString('utf8');
  }
}

/** `value` with every payload inside replaced by its decoded value, and other bytes by their UTF-8 text. */
function decoded(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (isPayload(value)) return { decodedPayload: decoded(decodePayload(value)) };
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(decoded);
  return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, decoded(field)]));
}

/** The whole history, payloads decoded, as JSON text; `historyJson` is what `temporal workflow show -o json` prints. */
export function decodedHistoryText(historyJson: unknown): string {
  return JSON.stringify(decoded(historyFromJSON(historyJson)), null, 1);
}

/**
 * Every file under `dir` by its path, as text; a history that `temporal workflow show -o json` saved there
 * (`histories/*.json`) decoded.
 */
export async function textsOfFiles(dir: string): Promise<Record<string, string>> {
  const texts: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    // latin1: every byte one character, so binary files are searched too.
    const text = await readFile(file, 'latin1');
    const isHistory = path.basename(entry.parentPath) === 'histories' && file.endsWith('.json');
    texts[file] = isHistory ? decodedHistoryText(JSON.parse(text)) : text;
  }
  return texts;
}

/** The names of the texts that hold `needle`. */
export function textsHolding(needle: string, texts: Record<string, string>): string[] {
  return Object.entries(texts)
    .filter(([, text]) => text.includes(needle))
    .map(([name]) => name);
}
