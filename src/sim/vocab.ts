/**
 * The sim model's vocabulary and its Hugging Face tokenizer files, so that a client's tokenizer (the real
 * `vllm bench serve --tokenizer DIR`, with HF_HUB_OFFLINE=1) counts exactly as the sim server counts.
 *
 * The token rule stays the sim's (./tokens.ts: a token is a run of non-whitespace), which is what a
 * `WordLevel` model behind a `WhitespaceSplit` pre-tokenizer computes. Words outside the fixed vocabulary
 * get ids above it, hashed from the word and remembered by the server, so text round-trips through `/tokenize` and `/detokenize`.
 *
 * The chat frame comes from a `chat_template` in `tokenizer_config.json`, as Qwen3's does, rendering what the
 * server's flattenChat renders; the tokenizer has no post-processor, so `num_special_tokens_to_add()` is 0 and
 * `vllm bench serve` counts each chat request as its prompt plus the frame, as it does on a real Qwen3.
 */
import { createHash } from 'node:crypto';
import { CHAT_FRAME, CHAT_TEMPLATE } from './openai-protocol.js';

export const UNK_TOKEN = '<unk>';

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'be', 'da', 'fu', 'go', 'hi', 'ja', 'ke', 'pu'];
/** Words the sim model writes (see model.ts), so its answers tokenize to known ids. */
const MODEL_WORDS = (
  'She He Natalia James Betty Weng Julie The farmer store she he the So Then In total, That means After that, ' +
  'has sells earns needs reads buys gets makes spends saves apples clips dollars pages minutes eggs cookies miles ' +
  'books tickets apples. clips. dollars. pages. minutes. eggs. cookies. miles. books. tickets. + - * = answer is ' +
  'Question: How many does have left? </s> Q: A: <|im_start|>system'
).split(' ');
const NUMBER_RANGE = 3200;
const VOCAB_SIZE = 16384;
/** Ids of words outside VOCABULARY lie in [VOCAB_SIZE, VOCAB_SIZE + EXTRA_ID_RANGE): below 2^31. */
const EXTRA_ID_RANGE = 2 ** 30;

function buildVocabulary(): string[] {
  const words = [UNK_TOKEN, ...CHAT_FRAME];
  const seen = new Set(words);
  const add = (word: string) => {
    if (!seen.has(word)) {
      seen.add(word);
      words.push(word);
    }
  };
  MODEL_WORDS.forEach(add);
  for (let n = -NUMBER_RANGE; n <= NUMBER_RANGE; n++) {
    add(String(n));
    add(`${n}.`);
  }
  // Pseudo-words of two or three syllables fill the rest, so random prompts read as words, not ids.
  for (let i = 0; words.length < VOCAB_SIZE; i++) {
    const a = SYLLABLES[i % 16];
    const b = SYLLABLES[Math.floor(i / 16) % 16];
    const c = i >= 256 ? SYLLABLES[Math.floor(i / 256) % 16] : '';
    add(`${a}${b}${c}`);
  }
  return words;
}

/** Token id -> word, for the fixed vocabulary. */
export const VOCABULARY: readonly string[] = buildVocabulary();
const IDS = new Map(VOCABULARY.map((word, id) => [word, id]));

/**
 * The id of a word: its place in VOCABULARY, or for any other word an id above it hashed from the word, so that
 * every process (a restarted server too) gives a word the same id: the LMCache server caches KV by token ids.
 */
export function stableTokenId(word: string): number {
  const fixed = IDS.get(word);
  if (fixed !== undefined) return fixed;
  return VOCABULARY.length + (createHash('sha256').update(word).digest().readUInt32BE(0) % EXTRA_ID_RANGE);
}

/** Ids of words and words of ids (stableTokenId), remembering the words outside VOCABULARY for `/detokenize`. */
export class TokenIds {
  private readonly extraWords = new Map<number, string>();

  constructor(private readonly maxExtraWords = 1_000_000) {}

  idOf(word: string): number {
    const id = stableTokenId(word);
    if (id >= VOCABULARY.length && this.extraWords.size < this.maxExtraWords) this.extraWords.set(id, word);
    return id;
  }

  /** The word of an id, or undefined when no word seen has that id. */
  wordOf(id: number): string | undefined {
    return id < VOCABULARY.length ? VOCABULARY[id] : this.extraWords.get(id);
  }
}

/** The files of a Hugging Face tokenizer directory for the sim model, by file name. */
export function tokenizerFiles(modelMaxLen: number): Record<string, string> {
  const vocab = Object.fromEntries(VOCABULARY.map((word, id) => [word, id]));
  const special = (content: string) => ({
    id: IDS.get(content),
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [UNK_TOKEN, ...CHAT_FRAME].map(special),
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    // No decoder: tokens are joined with single spaces, which tokenizes back to the same tokens.
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: UNK_TOKEN },
  };
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: UNK_TOKEN,
    model_max_length: modelMaxLen,
    clean_up_tokenization_spaces: false,
    // Special, as Qwen3's markers are: `vllm bench serve` leaves special ids out of its random prompts.
    additional_special_tokens: [...CHAT_FRAME],
    chat_template: CHAT_TEMPLATE,
  };
  // Loaders parse the model config beside the tokenizer (transformers needs a model_type); the sim has no
  // weights, so this only names a common architecture with the sim's vocabulary and context length.
  const modelConfig = { model_type: 'llama', vocab_size: VOCABULARY.length, max_position_embeddings: modelMaxLen };
  return {
    'config.json': JSON.stringify(modelConfig, null, 2),
    'tokenizer.json': JSON.stringify(tokenizer),
    'tokenizer_config.json': JSON.stringify(tokenizerConfig, null, 2),
  };
}
