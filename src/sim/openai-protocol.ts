/**
 * The OpenAI request bodies the sim accepts, checked as vLLM checks them, and normalised into one job shape.
 * Fields the sim does not model (top_p, frequency_penalty, ...) are accepted and ignored, as vLLM ignores
 * what it does not use; fields whose meaning it cannot honour (n > 1, logprobs, echo) are refused.
 */

/** A request the server refuses; `status` is the HTTP status of the OpenAI-style error body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }

  get type(): string {
    const types: Record<number, string> = {
      404: 'NotFoundError',
      500: 'InternalServerError',
      503: 'ServiceUnavailableError',
    };
    return types[this.status] ?? 'BadRequestError';
  }

  body(): object {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.status } };
  }
}

export interface Job {
  kind: 'completion' | 'chat';
  /** One text per sequence: the completion prompts, or the flattened chat. */
  prompts: string[];
  /** null: up to the model's context length. */
  maxTokens: number | null;
  stop: string[];
  ignoreEos: boolean;
  stream: boolean;
  includeUsage: boolean;
}

type Body = Record<string, unknown>;

function asBody(value: unknown): Body {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(400, 'the request body must be a JSON object');
  }
  return value as Body;
}

function optional<T>(body: Body, name: string, check: (value: unknown) => value is T, expected: string): T | null {
  const value = body[name];
  if (value === undefined || value === null) return null;
  if (!check(value)) throw new ApiError(400, `${name} must be ${expected}`, name);
  return value;
}

const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInteger = (v: unknown): v is number => Number.isInteger(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isStop = (v: unknown): v is string | string[] => isString(v) || (Array.isArray(v) && v.every(isString));
const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `maxTokensFields`: the names that may carry the output limit, the preferred one first. */
function common(body: Body, servedModel: string, maxTokensFields: string[]) {
  const model = optional(body, 'model', isString, 'a string');
  if (model !== null && model !== servedModel) {
    throw new ApiError(404, `The model \`${model}\` does not exist.`, 'model');
  }
  let maxTokens: number | null = null;
  for (const field of maxTokensFields) {
    maxTokens ??= optional(body, field, isInteger, 'an integer');
    if (maxTokens !== null && maxTokens < 1)
      throw new ApiError(400, `${field} must be at least 1, got ${maxTokens}`, field);
  }
  const temperature = optional(body, 'temperature', isNumber, 'a number');
  if (temperature !== null && temperature < 0)
    throw new ApiError(400, 'temperature must be non-negative', 'temperature');
  optional(body, 'seed', isInteger, 'an integer');
  const n = optional(body, 'n', isInteger, 'an integer');
  if (n !== null && n !== 1) throw new ApiError(400, 'the sim model is greedy: only n = 1 is supported', 'n');
  // Each field's value that asks for nothing (absent, null, false, best_of 1) is fine.
  for (const field of ['logprobs', 'top_logprobs', 'echo', 'best_of', 'prompt_logprobs'] as const) {
    const value = body[field];
    if (value !== undefined && value !== null && value !== false && !(field === 'best_of' && value === 1)) {
      throw new ApiError(400, `${field} is not supported by the sim server`, field);
    }
  }
  const stop = optional(body, 'stop', isStop, 'a string or an array of strings');
  const stream = optional(body, 'stream', isBoolean, 'a boolean') ?? false;
  const streamOptions = optional(body, 'stream_options', isObject, 'an object');
  if (streamOptions !== null && !stream) {
    throw new ApiError(400, 'Stream options can only be defined when `stream=True`.', 'stream_options');
  }
  const includeUsage = streamOptions?.include_usage;
  acceptSpecialTokensFlag(body);
  if (includeUsage !== undefined && includeUsage !== null && !isBoolean(includeUsage)) {
    throw new ApiError(400, 'stream_options.include_usage must be a boolean', 'stream_options');
  }
  return {
    maxTokens,
    stop: stop === null ? [] : typeof stop === 'string' ? [stop] : stop,
    ignoreEos: optional(body, 'ignore_eos', isBoolean, 'a boolean') ?? false,
    stream,
    includeUsage: includeUsage === true,
  };
}

export function parseCompletionRequest(raw: unknown, servedModel: string): Job {
  const body = asBody(raw);
  const prompt = body.prompt;
  let prompts: string[];
  if (typeof prompt === 'string') prompts = [prompt];
  else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every(isString)) prompts = prompt;
  else
    throw new ApiError(
      400,
      'prompt must be a string or a non-empty array of strings (token ids are not supported)',
      'prompt',
    );
  return { kind: 'completion', prompts, ...common(body, servedModel, ['max_tokens']) };
}

export function parseChatRequest(raw: unknown, servedModel: string): Job {
  const body = asBody(raw);
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new ApiError(400, 'messages must be a non-empty array', 'messages');
  }
  return {
    kind: 'chat',
    prompts: [flattenChat(body.messages)],
    ...common(body, servedModel, ['max_completion_tokens', 'max_tokens']),
  };
}

/**
 * The sim's chat template, Qwen's ChatML with whitespace around the markers so that they never glue onto a
 * word (the token rule splits on whitespace):
 *   "<|im_start|>ROLE\nCONTENT\n<|im_end|>\n" per message, then "<|im_start|>assistant\n".
 * A message therefore costs its content's tokens plus 2, and the generation prompt 1.
 * Content is a string or an array of {type:"text", text} parts, joined with "\n".
 * CHAT_TEMPLATE is the same in Jinja, for the tokenizer files: the two must render the same text.
 */
export function flattenChat(messages: unknown[], addGenerationPrompt = true): string {
  const parts = messages.map((message, index) => {
    if (!isObject(message) || !isString(message.role)) {
      throw new ApiError(400, `messages[${index}] must be an object with a string role`, 'messages');
    }
    return `<|im_start|>${message.role}\n${messageContent(message.content, index)}\n<|im_end|>\n`;
  });
  return `${parts.join('')}${addGenerationPrompt ? '<|im_start|>assistant\n' : ''}`;
}

/** flattenChat as the `chat_template` of `tokenizer_config.json` (Jinja, rendered by transformers and vLLM). */
export const CHAT_TEMPLATE = [
  '{%- for message in messages -%}',
  '{%- if message.content is string -%}{%- set content = message.content -%}',
  "{%- elif message.content is none -%}{%- set content = '' -%}",
  "{%- else -%}{%- set content = message.content | map(attribute='text') | join('\\n') -%}",
  '{%- endif -%}',
  "{{- '<|im_start|>' + message.role + '\\n' + content + '\\n<|im_end|>\\n' -}}",
  '{%- endfor -%}',
  "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}",
].join('');

/** The words the template puts around one user message: 3 tokens, the chat frame. */
export const CHAT_FRAME = ['<|im_start|>user', '<|im_end|>', '<|im_start|>assistant'] as const;

/** A `POST /tokenize` body, as vLLM's TokenizeCompletionRequest or TokenizeChatRequest. */
export interface TokenizeJob {
  /** The text to tokenize, chat already flattened. */
  text: string;
  returnTokenStrs: boolean;
}

export function parseTokenizeRequest(raw: unknown, servedModel: string): TokenizeJob {
  const body = asBody(raw);
  const model = optional(body, 'model', isString, 'a string');
  if (model !== null && model !== servedModel)
    throw new ApiError(404, `The model \`${model}\` does not exist.`, 'model');
  const returnTokenStrs = optional(body, 'return_token_strs', isBoolean, 'a boolean') ?? false;
  acceptSpecialTokensFlag(body);
  if (Array.isArray(body.messages)) {
    const addGenerationPrompt = optional(body, 'add_generation_prompt', isBoolean, 'a boolean') ?? true;
    return { text: flattenChat(body.messages, addGenerationPrompt), returnTokenStrs };
  }
  const prompt = optional(body, 'prompt', isString, 'a string');
  if (prompt === null) throw new ApiError(400, 'either prompt (a string) or messages (an array) is required', 'prompt');
  return { text: prompt, returnTokenStrs };
}

/**
 * `add_special_tokens` is checked and changes nothing: the sim tokenizer, like Qwen3's, has no special tokens to
 * add (no post-processor, no BOS); its chat frame comes from the chat template.
 */
function acceptSpecialTokensFlag(body: Body): void {
  optional(body, 'add_special_tokens', isBoolean, 'a boolean');
}

/** A `POST /detokenize` body: the token ids to turn back into text. */
export function parseDetokenizeRequest(raw: unknown, servedModel: string): number[] {
  const body = asBody(raw);
  const model = optional(body, 'model', isString, 'a string');
  if (model !== null && model !== servedModel)
    throw new ApiError(404, `The model \`${model}\` does not exist.`, 'model');
  if (!Array.isArray(body.tokens) || !body.tokens.every(isInteger)) {
    throw new ApiError(400, 'tokens must be an array of integers', 'tokens');
  }
  return body.tokens as number[];
}

function messageContent(content: unknown, index: number): string {
  if (content === undefined || content === null) return '';
  if (isString(content)) return content;
  if (Array.isArray(content)) {
    return content
      .map((part, partIndex) => {
        if (isObject(part) && part.type === 'text' && isString(part.text)) return part.text;
        throw new ApiError(
          400,
          `messages[${index}].content[${partIndex}]: only {"type":"text"} parts are supported`,
          'messages',
        );
      })
      .join('\n');
  }
  throw new ApiError(400, `messages[${index}].content must be a string or an array of text parts`, 'messages');
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function usage(promptTokens: number, completionTokens: number, cachedTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}
