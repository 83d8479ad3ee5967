/**
 * Prompt construction for the builtin drivers, mirroring what the upstream tools build, in the project's
 * token rule (src/sim/tokens.ts) so that a prompt of N tokens here is N tokens to the sim server.
 */
import { detokenize } from '../sim/tokens.js';
import { PyRandom } from './py-random.js';

/** The stand-in vocabulary: every id maps to a distinct whitespace-free word, so each is one token. */
export const VOCAB_SIZE = 32000;
const CONSONANTS = 'bdfghklmnprstvz';
const VOWELS = 'aeiou';
const SYLLABLES = CONSONANTS.length * VOWELS.length;

/** Three syllables per word: 75**3 > VOCAB_SIZE keeps the words distinct without needing separators. */
export function vocabWord(id: number): string {
  let word = '';
  let rest = id;
  for (let i = 0; i < 3; i++) {
    const syllable = rest % SYLLABLES;
    rest = Math.floor(rest / SYLLABLES);
    word += CONSONANTS[syllable % CONSONANTS.length]! + VOWELS[Math.floor(syllable / CONSONANTS.length)]!;
  }
  return word;
}

export interface RandomRequest {
  readonly prompt: string;
  readonly promptLen: number;
  readonly outputLen: number;
}

/**
 * vllm's random dataset: request i is `input_len` consecutive vocabulary ids starting at a per-request
 * offset drawn from the seeded generator, plus i (vllm: `(offset + index + arange(input_len)) % vocab`).
 * Consecutive ids rather than independent draws keep prompts unrelated to one another while remaining
 * cheap to build for 10 000-token prompts.
 */
export function randomDataset(seed: number, numPrompts: number, inputLen: number, outputLen: number): RandomRequest[] {
  const rng = new PyRandom(seed);
  const offsets = Array.from({ length: numPrompts }, () => rng.below(VOCAB_SIZE));
  return offsets.map((offset, index) => {
    const words = Array.from({ length: inputLen }, (_, k) => vocabWord((offset + index + k) % VOCAB_SIZE));
    return { prompt: detokenize(words), promptLen: inputLen, outputLen };
  });
}

function his(count: number): string {
  return detokenize(new Array<string>(count).fill('hi'));
}

/** long_doc_qa.py's five short prompts, sent before anything is timed: `str(i) + "xx" + " ".join(["hi"] * 1000)`. */
export function preWarmupPrompts(): string[] {
  return Array.from({ length: 5 }, (_, i) => `${i}xx${his(1000)}`);
}

/**
 * long_doc_qa.py's documents: `str(i) + " " + " ".join(["hi"] * document_length)`. The leading id keeps
 * any document from being a prefix of another; it makes each prompt document_length + 1 tokens.
 */
export function documentPrompts(numDocuments: number, documentLength: number): string[] {
  const body = his(documentLength);
  return Array.from({ length: numDocuments }, (_, i) => `${i} ${body}`);
}

export const REPEAT_MODES = ['random', 'tile', 'interleave'] as const;
export type RepeatMode = (typeof REPEAT_MODES)[number];

/**
 * long_doc_qa.py's repeat_prompts: tile = [d0..dn-1] repeated, interleave = each item repeated in place,
 * random = the tiled list shuffled by Python's generator seeded with --shuffle-seed.
 */
export function repeatPrompts<T>(items: readonly T[], count: number, mode: RepeatMode, rng: PyRandom): T[] {
  switch (mode) {
    case 'tile':
      return Array.from({ length: count }, () => items).flat();
    case 'interleave':
      return items.flatMap((item) => new Array<T>(count).fill(item));
    case 'random': {
      const repeated = Array.from({ length: count }, () => items).flat();
      rng.shuffle(repeated);
      return repeated;
    }
  }
}
