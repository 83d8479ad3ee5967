/**
 * Completions and chat completions of the sim vLLM server: each prompt prefilled by the engine, decoded by the
 * sim model, and answered as vLLM answers (one JSON body, or SSE chunks shaped as vLLM streams them).
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { DECODE_SECONDS_PER_TOKEN, MAX_MODEL_LEN } from './cost-model.js';
import type { Engine, PrefillResult } from './engine.js';
import { sendJson } from './http.js';
import type { Logger } from './log.js';
import { generate, type Generation } from './model.js';
import { ApiError, usage, type Job } from './openai-protocol.js';
import { countTokens, tokenize } from './tokens.js';

export interface Sequence {
  text: string;
  tokens: string[];
  maxTokens: number;
}

interface Outcome {
  prefill: PrefillResult;
  generation: Generation;
}

const ms = (seconds: number) => `${(seconds * 1000).toFixed(0)} ms`;

export class Completions {
  constructor(
    private readonly engine: Engine,
    private readonly log: Logger,
    /** The served model's name, echoed in every answer. */
    private readonly model: string,
  ) {}

  /** The request's prompts as sequences to run, refused as vLLM refuses an empty or too long one. */
  sequencesOf(job: Job): Sequence[] {
    return job.prompts.map((text, index) => {
      const tokens = tokenize(text);
      const where = job.prompts.length > 1 ? ` (prompt ${index})` : '';
      if (tokens.length === 0) throw new ApiError(400, `the prompt is empty${where}`, 'prompt');
      const maxTokens = job.maxTokens ?? MAX_MODEL_LEN - tokens.length;
      if (tokens.length + maxTokens > MAX_MODEL_LEN) {
        throw new ApiError(
          400,
          `This model's maximum context length is ${MAX_MODEL_LEN} tokens. However, you requested ` +
            `${tokens.length + maxTokens} tokens (${tokens.length} in the prompt, ${maxTokens} in the completion)${where}.`,
        );
      }
      return { text, tokens, maxTokens };
    });
  }

  /**
   * Prefills one sequence, then decodes it: `emit` (streaming) receives each piece when its decode step ends.
   * Stops decoding early when `cancelled()` turns true (the client went away).
   */
  private async runSequence(
    requestId: string,
    job: Job,
    sequence: Sequence,
    emit: ((piece: string, step: number) => void) | null,
    cancelled: () => boolean,
    onGeneration: (generation: Generation) => void = () => {},
  ): Promise<Outcome> {
    const started = performance.now();
    const prefill = await this.engine.prefill(sequence.tokens);
    const generation = generate(sequence.text, {
      maxTokens: sequence.maxTokens,
      stop: job.stop,
      ignoreEos: job.ignoreEos,
      variant: prefill.corruption,
    });
    onGeneration(generation);
    const ttft = (performance.now() - started) / 1000;
    if (emit) {
      for (let step = 0; step < generation.generatedTokens && !cancelled(); step++) {
        if (step > 0) await sleep(DECODE_SECONDS_PER_TOKEN * 1000);
        emit(generation.pieces[step], step);
      }
    } else {
      await sleep(Math.max(0, generation.generatedTokens - 1) * DECODE_SECONDS_PER_TOKEN * 1000);
    }
    const seconds = (performance.now() - started) / 1000;
    this.log(
      `${requestId}: prompt ${prefill.promptTokens} tokens ` +
        `(cached: GPU ${prefill.gpuHitTokens}, LMCache ${prefill.lmcacheHitTokens}; prefilled ${prefill.prefillTokens}), output ${countTokens(generation.text)} tokens, finish ${generation.finishReason}` +
        `${generation.stopReason === null ? '' : ` at ${JSON.stringify(generation.stopReason)}`}, ` +
        `queue ${ms(prefill.queueSeconds)}, TTFT ${ms(ttft)}, total ${ms(seconds)}` +
        (prefill.corruption ? ` [retrieved KV differed in ${prefill.corruption} blocks: the output changed]` : ''),
    );
    return { prefill, generation };
  }

  private totalUsage(outcomes: Outcome[]) {
    const sum = (f: (o: Outcome) => number) => outcomes.reduce((total, o) => total + f(o), 0);
    return usage(
      sum((o) => o.prefill.promptTokens),
      sum((o) => countTokens(o.generation.text)),
      sum((o) => o.prefill.gpuHitTokens + o.prefill.lmcacheHitTokens),
    );
  }

  /** Answers a parsed completion or chat request: one JSON body, or an SSE stream shaped as vLLM's. */
  async serve(res: ServerResponse, job: Job, sequences: Sequence[]): Promise<void> {
    const chat = job.kind === 'chat';
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
    const created = Math.floor(Date.now() / 1000);
    const head = { id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model: this.model };
    const logId = (index: number) => (sequences.length > 1 ? `${id}-${index}` : id);

    if (!job.stream) {
      const outcomes = await Promise.all(
        sequences.map((s, i) => this.runSequence(logId(i), job, s, null, () => false)),
      );
      const choices = outcomes.map(({ generation }, index) => {
        const end = { finish_reason: generation.finishReason, stop_reason: generation.stopReason };
        return chat
          ? { index, message: { role: 'assistant', content: generation.text }, logprobs: null, ...end }
          : { index, text: generation.text, logprobs: null, ...end };
      });
      sendJson(res, 200, {
        ...head,
        object: chat ? 'chat.completion' : 'text_completion',
        choices,
        usage: this.totalUsage(outcomes),
      });
      return;
    }

    let closed = false;
    res.on('close', () => (closed = true));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (body: object) => {
      if (!closed) res.write(`data: ${JSON.stringify(body)}\n\n`);
    };
    const choice = (index: number, content: string, finish: Generation | null, first: boolean) => {
      const end = { finish_reason: finish?.finishReason ?? null, stop_reason: finish?.stopReason ?? null };
      if (!chat) return { index, text: content, logprobs: null, ...end };
      return { index, delta: first ? { role: 'assistant', content } : { content }, logprobs: null, ...end };
    };
    const outcomes = await Promise.all(
      sequences.map(async (sequence, index) => {
        // As vLLM streams: chat opens with the role and empty content; one chunk per token after that, and the
        // last token's chunk carries finish_reason (its text may be empty when a stop string cut it).
        let last: Generation | null = null;
        const emit = (piece: string, step: number) => {
          if (chat && step === 0) send({ ...head, choices: [choice(index, '', null, true)] });
          const final = last !== null && step === last.generatedTokens - 1;
          if (piece !== '' || final) send({ ...head, choices: [choice(index, piece, final ? last : null, false)] });
        };
        return this.runSequence(
          logId(index),
          job,
          sequence,
          emit,
          () => closed,
          (generation) => (last = generation),
        );
      }),
    );
    if (job.includeUsage) send({ ...head, choices: [], usage: this.totalUsage(outcomes) });
    if (!closed) res.end('data: [DONE]\n\n');
  }
}
