/** What the tool asks the server before it benchmarks: the served model, and vLLM's tokenizer routes. */
import type { RandomRequest } from '../prompts.js';

/** vllm's get_first_model_from_server: the served name for requests, its root for the result's model_id. */
export async function firstModel(baseUrl: string): Promise<{ name: string; id: string }> {
  const response = await fetch(`${baseUrl}/v1/models`);
  if (!response.ok) throw new Error(`GET ${baseUrl}/v1/models answered ${response.status} ${response.statusText}`);
  const body = (await response.json()) as { data?: Array<{ id?: string; root?: string }> };
  const first = body.data?.[0];
  if (typeof first?.id !== 'string') throw new Error(`No models found on the server at ${baseUrl}.`);
  return { name: first.id, id: first.root ?? first.id };
}

/** POSTs JSON to one of vLLM's own routes; undefined when the server has no such route. */
async function postJson(url: string, body: unknown): Promise<Record<string, unknown> | undefined> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status} ${response.statusText}`);
  return (await response.json()) as Record<string, unknown>;
}

/** What the model's tokenizer adds to a prompt (`num_special_tokens_to_add`), from the server's /tokenize; 0 without one. */
export async function specialTokensAdded(baseUrl: string, model: string): Promise<number> {
  const count = async (addSpecialTokens: boolean) =>
    (await postJson(`${baseUrl}/tokenize`, { model, prompt: 'x', add_special_tokens: addSpecialTokens }))?.count as
      number | undefined;
  const [framed, plain] = [await count(true), await count(false)];
  return framed === undefined || plain === undefined ? 0 : framed - plain;
}

/**
 * The tool's `_align_prompts_to_server_tokenizer`: when the server counts the first prompt differently from
 * its intended length, every prompt longer on the server is cut to that length through /detokenize.
 */
export async function alignToServer(
  baseUrl: string,
  model: string,
  requests: RandomRequest[],
): Promise<RandomRequest[]> {
  const tokensOf = async (prompt: string) =>
    (await postJson(`${baseUrl}/tokenize`, { model, prompt, add_special_tokens: false }))?.tokens as
      number[] | undefined;
  const first = await tokensOf(requests[0]!.prompt);
  if (first === undefined) {
    console.log('WARNING: /tokenize unavailable (404 Not Found), skipping alignment.');
    return requests;
  }
  if (first.length === requests[0]!.promptLen) return requests;
  console.log(
    `WARNING: tokenizer mismatch (server=${first.length}, expected=${requests[0]!.promptLen}), re-aligning prompts.`,
  );
  return Promise.all(
    requests.map(async (request) => {
      const tokens = (await tokensOf(request.prompt))!;
      if (tokens.length <= request.promptLen) return request;
      const corrected = await postJson(`${baseUrl}/detokenize`, { model, tokens: tokens.slice(0, request.promptLen) });
      return { ...request, prompt: String(corrected!.prompt) };
    }),
  );
}
