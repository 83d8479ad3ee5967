/**
 * The streaming client both builtin drivers use: one POST to an OpenAI-compatible chat completions
 * endpoint with `stream: true`, read as server-sent events, with the arrival time of every chunk kept so
 * each driver can apply its upstream tool's own definition of TTFT and inter-token latency.
 */
import { performance } from 'node:perf_hooks';

export interface Usage {
  readonly prompt_tokens?: number;
  readonly completion_tokens?: number;
}

export interface ChatStream {
  /** performance.now() milliseconds just before the request was sent. */
  readonly sentAt: number;
  /** Arrival of every chunk with a non-empty `choices` (vllm bench serve's token events, role chunk included). */
  readonly choiceChunkTimes: readonly number[];
  /** Arrival of the first chunk whose delta carried non-empty text (long_doc_qa.py's first token). */
  readonly firstContentAt: number | undefined;
  readonly text: string;
  /** From the trailing usage chunk that `stream_options.include_usage` asks for. */
  readonly usage: Usage | undefined;
}

/** The server answered with a status other than 200. */
export class HttpStatusError extends Error {
  override name = 'HttpStatusError';
  constructor(
    readonly status: number,
    readonly statusText: string,
    readonly body: string,
  ) {
    super(`HTTP ${status} ${statusText}${body ? `: ${body.slice(0, 500)}` : ''}`);
  }
}

/** Splits an SSE byte stream (already decoded to text) into the data payloads of its events. */
export class SseParser {
  private buffer = '';
  private pendingCarriageReturn = false;

  push(text: string): string[] {
    let incoming = (this.pendingCarriageReturn ? '\r' : '') + text;
    // A CR at a chunk boundary may be the first half of a CRLF, so it waits for the next chunk.
    this.pendingCarriageReturn = incoming.endsWith('\r');
    if (this.pendingCarriageReturn) incoming = incoming.slice(0, -1);
    this.buffer += incoming.replace(/\r\n?/g, '\n');
    const payloads: string[] = [];
    let boundary: number;
    while ((boundary = this.buffer.indexOf('\n\n')) >= 0) {
      const payload = dataOf(this.buffer.slice(0, boundary));
      this.buffer = this.buffer.slice(boundary + 2);
      if (payload !== undefined) payloads.push(payload);
    }
    return payloads;
  }

  /** A last event that the server closed without its blank line still counts. */
  end(): string[] {
    const payload = dataOf(this.buffer);
    this.buffer = '';
    this.pendingCarriageReturn = false;
    return payload === undefined ? [] : [payload];
  }
}

function dataOf(event: string): string | undefined {
  const data = event
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5));
  return data.length === 0 ? undefined : data.join('\n');
}

interface ChunkJson {
  choices?: Array<{ delta?: { content?: unknown; reasoning_content?: unknown; reasoning?: unknown } }>;
  usage?: Usage | null;
}

function deltaText(chunk: ChunkJson): string {
  const delta = chunk.choices?.[0]?.delta;
  for (const value of [delta?.content, delta?.reasoning_content, delta?.reasoning]) {
    if (typeof value === 'string' && value !== '') return value;
  }
  return '';
}

export interface ChatRequest {
  readonly url: string;
  readonly body: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/** Rejects on a transport error, a non-200 answer or a malformed event; the caller decides what that means. */
export async function streamChatCompletion(request: ChatRequest): Promise<ChatStream> {
  const sentAt = performance.now();
  const response = await fetch(request.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...request.headers },
    body: JSON.stringify(request.body),
    signal: request.signal,
  });
  if (response.status !== 200) {
    throw new HttpStatusError(response.status, response.statusText, (await response.text().catch(() => '')).trim());
  }
  if (response.body === null) throw new Error('response has no body');

  const choiceChunkTimes: number[] = [];
  let firstContentAt: number | undefined;
  let text = '';
  let usage: Usage | undefined;
  let done = false;
  const handle = (payloads: readonly string[], arrivedAt: number): void => {
    for (const payload of payloads) {
      if (done) return;
      if (payload.trim() === '[DONE]') {
        done = true;
        return;
      }
      const chunk = JSON.parse(payload) as ChunkJson;
      if (Array.isArray(chunk.choices) && chunk.choices.length > 0) {
        choiceChunkTimes.push(arrivedAt);
        const piece = deltaText(chunk);
        if (piece !== '' && firstContentAt === undefined) firstContentAt = arrivedAt;
        text += piece;
      } else if (chunk.usage) {
        usage = chunk.usage;
      }
    }
  };

  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  for (;;) {
    const { value, done: finished } = await reader.read();
    const arrivedAt = performance.now();
    if (finished) {
      handle([...parser.push(decoder.decode()), ...parser.end()], arrivedAt);
      break;
    }
    handle(parser.push(decoder.decode(value, { stream: true })), arrivedAt);
  }
  return { sentAt, choiceChunkTimes, firstContentAt, text, usage };
}
