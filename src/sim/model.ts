/**
 * The sim's "model": deterministic and greedy. The text depends only on the prompt (plus a variant that only
 * the corrupt-on-hit defect sets), so every server instance in every run answers a prompt identically.
 *
 * A seeded generator stands in for "next word = f(prompt, words so far)": it writes GSM8K-looking answers
 * ("She has 48 + 24 = 72 apples. The answer is 72.") and then either ends (end of sequence) or runs on into
 * text that lm_eval's GSM8K stop strings cut ("Question:", "</s>", "<|im_end|>"). With ignore_eos it goes on
 * answering forever. Every emitted piece starts with whitespace, so each piece is one token by the token rule.
 */
import { createHash } from 'node:crypto';

export interface GenerateOptions {
  maxTokens: number;
  stop: readonly string[];
  ignoreEos: boolean;
  /** Changes the text for the same prompt; 0 means the true output. */
  variant: number;
}

export interface Generation {
  /** The text of each generated token after stop strings are applied (a cut token may be shortened or empty). */
  pieces: string[];
  text: string;
  /** Tokens the model computed, including one that a stop string cut; each costs a decode step. */
  generatedTokens: number;
  finishReason: 'stop' | 'length';
  /** The stop string that ended the text, or null (end of sequence or length). */
  stopReason: string | null;
}

const SUBJECTS = ['She', 'He', 'Natalia', 'James', 'Betty', 'Weng', 'Julie', 'The farmer', 'The store'];
const LATER_SUBJECTS = ['she', 'he', 'the farmer', 'the store', 'Natalia', 'James'];
const VERBS = ['has', 'sells', 'earns', 'needs', 'reads', 'buys', 'gets', 'makes', 'spends', 'saves'];
const NOUNS = ['apples', 'clips', 'dollars', 'pages', 'minutes', 'eggs', 'cookies', 'miles', 'books', 'tickets'];
const CONNECTORS = ['So', 'Then', 'In total,', 'That means', 'After that,'];

const END_OF_SEQUENCE = Symbol('eos');
type ModelToken = string | typeof END_OF_SEQUENCE;

/** mulberry32: tiny, fast, and identical on every platform. */
function random(seed: number): (bound: number) => number {
  let state = seed >>> 0;
  return (bound) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % bound;
  };
}

function seedOf(prompt: string, variant: number): number {
  const hash = createHash('sha256').update(prompt);
  if (variant !== 0) hash.update(`\u0000variant:${variant}`);
  return hash.digest().readUInt32LE(0);
}

function* words(text: string): Generator<string> {
  for (const word of text.split(' ')) yield ` ${word}`;
}

/** The endless token stream for one prompt; END_OF_SEQUENCE marks where the model would stop. */
function* modelTokens(seed: number): Generator<ModelToken> {
  const next = random(seed);
  const pick = <T>(list: readonly T[]) => list[next(list.length)];
  for (;;) {
    let result = 0;
    const steps = 1 + next(3);
    for (let step = 0; step < steps; step++) {
      const a = 2 + next(98);
      const b = 2 + next(30);
      const op = pick(['+', '-', '*'] as const);
      result = op === '+' ? a + b : op === '-' ? a - b : a * b;
      const lead = step === 0 ? pick(SUBJECTS) : `${pick(CONNECTORS)} ${pick(LATER_SUBJECTS)}`;
      yield* words(`${lead} ${pick(VERBS)} ${a} ${op} ${b} = ${result} ${pick(NOUNS)}.`);
    }
    yield* words(`The answer is ${result}.`);
    // 40 % of answers end here; the rest run on, as base models do, into text that stop strings cut.
    const ending = next(20);
    if (ending >= 8 && ending < 14) {
      yield '\n\nQuestion:';
      yield* words(`How many ${pick(NOUNS)} does ${pick(LATER_SUBJECTS)} have left?`);
    } else if (ending >= 14 && ending < 17) {
      yield ' </s>';
    } else if (ending >= 17) {
      yield '\n<|im_end|>';
    }
    yield END_OF_SEQUENCE;
  }
}

/** Earliest position in `text` at or after `from` where a stop string starts, with that string. */
function findStop(text: string, from: number, stop: readonly string[]): { at: number; stop: string } | null {
  let found: { at: number; stop: string } | null = null;
  for (const candidate of stop) {
    const at = text.indexOf(candidate, from);
    if (at >= 0 && (found === null || at < found.at)) found = { at, stop: candidate };
  }
  return found;
}

export function generate(prompt: string, options: GenerateOptions): Generation {
  const stop = options.stop.filter((s) => s.length > 0);
  const longestStop = Math.max(0, ...stop.map((s) => s.length));
  const pieces: string[] = [];
  let text = '';
  let finishReason: Generation['finishReason'] = 'length';
  let stopReason: string | null = null;
  for (const token of modelTokens(seedOf(prompt, options.variant))) {
    if (token === END_OF_SEQUENCE) {
      if (options.ignoreEos) continue;
      finishReason = 'stop';
      break;
    }
    const before = text.length;
    pieces.push(token);
    text += token;
    // A stop string may straddle the previous pieces, so search back by its length.
    const hit = findStop(text, Math.max(0, before - longestStop + 1), stop);
    if (hit) {
      text = text.slice(0, hit.at);
      finishReason = 'stop';
      stopReason = hit.stop;
      break;
    }
    if (pieces.length >= options.maxTokens) break;
  }
  return { pieces: cutPieces(pieces, text.length), text, generatedTokens: pieces.length, finishReason, stopReason };
}

/** Shortens the pieces so that they add up to the first `length` characters. */
function cutPieces(pieces: string[], length: number): string[] {
  let remaining = length;
  return pieces.map((piece) => {
    const kept = piece.slice(0, Math.max(0, remaining));
    remaining -= piece.length;
    return kept;
  });
}
