/**
 * The chat frame of a vLLM server: how many tokens its chat template puts around one user message beyond what
 * its tokenizer adds to the same text as a plain prompt, asked of the server's own `/tokenize`.
 *
 * `vllm bench serve --backend openai-chat` counts each request as the server's `usage.prompt_tokens` (template
 * included), while its random prompts are RANDOM_INPUT_LEN less only the tokenizer's own special tokens, which
 * are what `/tokenize` of a prompt adds by default. So each request counts RANDOM_INPUT_LEN plus this frame.
 */
import { truncate } from '../verification/py-json.js';

const PROBE_TEXT = 'The quick brown fox jumps over the lazy dog';
const TIMEOUT_MS = 10_000;

export async function chatFrameTokens(port: number, model: string): Promise<number> {
  // The message is shaped as the tool sends its prompts: one user turn whose content is a list of text parts.
  const chat = await tokenCount(port, {
    model,
    messages: [{ role: 'user', content: [{ type: 'text', text: PROBE_TEXT }] }],
  });
  const prompt = await tokenCount(port, { model, prompt: PROBE_TEXT });
  return chat - prompt;
}

async function tokenCount(port: number, body: object): Promise<number> {
  const url = `http://127.0.0.1:${port}/tokenize`;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}: ${truncate(text, 200)}`);
  let count: unknown;
  try {
    count = (JSON.parse(text) as { count?: unknown }).count;
  } catch {
    count = undefined;
  }
  if (typeof count !== 'number' || !Number.isInteger(count)) {
    throw new Error(`POST ${url} answered without an integer "count": ${truncate(text, 200)}`);
  }
  return count;
}
