/** The builtin drivers' building blocks, in process: generator, argv parser, prompts, statistics, SSE. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countTokens, tokenize } from '../../src/sim/tokens.js';
import { parseArgs, UsageError } from '../../src/drivers/args.js';
import { SseParser } from '../../src/drivers/openai-stream.js';
import {
  documentPrompts,
  preWarmupPrompts,
  randomDataset,
  repeatPrompts,
  vocabWord,
  VOCAB_SIZE,
} from '../../src/drivers/prompts.js';
import { PyRandom } from '../../src/drivers/py-random.js';
import { mean, median, percentile, std } from '../../src/drivers/stats.js';

describe('PyRandom matches CPython 3.11 random', () => {
  // Expected values printed by CPython: random.seed(s); random.getrandbits(32) / random.random() / shuffle.
  it('produces the same 32-bit outputs for small and multi-word seeds', () => {
    const zero = new PyRandom(0);
    assert.deepEqual([zero.uint32(), zero.uint32(), zero.uint32()], [3626764237, 1654615998, 3255389356]);
    const big = new PyRandom(12345678901);
    assert.deepEqual([big.uint32(), big.uint32()], [4063089813, 2562312935]);
  });

  it('produces the same random() value', () => {
    assert.equal(new PyRandom(0).random(), 0.8444218515250481);
  });

  it('shuffles exactly as random.shuffle does', () => {
    const ten = Array.from({ length: 10 }, (_, i) => i);
    new PyRandom(0).shuffle(ten);
    assert.deepEqual(ten, [7, 8, 1, 5, 3, 4, 2, 0, 9, 6]);
    const doubled = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5];
    new PyRandom(3).shuffle(doubled);
    assert.deepEqual(doubled, [1, 1, 4, 0, 0, 5, 4, 5, 2, 2, 3, 3]);
  });
});

describe('parseArgs', () => {
  const table = { port: { help: '' }, name: { help: '' }, rate: { help: '' }, verbose: { flag: true, help: '' } };

  it('reads --opt value, --opt=value and flags; the last repeat wins', () => {
    const args = parseArgs(['--port', '8000', '--name=a=b', '--verbose', '--port', '9000', '--rate', 'inf'], table);
    assert.equal(args.int('port', undefined), 9000);
    assert.equal(args.string('name'), 'a=b');
    assert.equal(args.flag('verbose'), true);
    assert.equal(args.float('rate', 1), Number.POSITIVE_INFINITY);
    assert.equal(args.optionalString('missing'), undefined);
  });

  it('refuses unknown options, positionals, missing values and malformed numbers', () => {
    assert.throws(() => parseArgs(['--bogus', '1'], table), UsageError);
    assert.throws(() => parseArgs(['--constructor', '1'], table), UsageError);
    assert.throws(() => parseArgs(['stray'], table), UsageError);
    assert.throws(() => parseArgs(['--port'], table), /expected one argument/);
    assert.throws(() => parseArgs(['--port', '--verbose'], table), /expected one argument/);
    assert.throws(() => parseArgs(['--verbose=yes'], table), UsageError);
    assert.throws(() => parseArgs(['--port', '80.5'], table).int('port', 1), /invalid int value/);
    assert.throws(() => parseArgs(['--port', '0'], table).int('port', 1, 1), /must be >= 1/);
    assert.throws(() => parseArgs(['--rate', 'fast'], table).float('rate', 1), /invalid float value/);
    assert.throws(() => parseArgs([], table).string('name'), /required: --name/);
    assert.throws(() => parseArgs(['--name', 'x'], table).choice('name', ['a', 'b']), /invalid choice/);
  });
});

describe('prompts', () => {
  it('has a vocabulary of distinct single-token words', () => {
    const words = new Set<string>();
    for (let id = 0; id < VOCAB_SIZE; id++) words.add(vocabWord(id));
    assert.equal(words.size, VOCAB_SIZE);
    for (const word of words) assert.deepEqual(tokenize(word), [word]);
  });

  it('builds random-dataset prompts of exactly the requested token count, reproducibly', () => {
    const a = randomDataset(42, 6, 1000, 7);
    assert.equal(a.length, 6);
    for (const request of a) {
      assert.equal(countTokens(request.prompt), 1000);
      assert.equal(request.promptLen, 1000);
      assert.equal(request.outputLen, 7);
    }
    assert.equal(new Set(a.map((r) => r.prompt)).size, 6, 'prompts are distinct');
    assert.deepEqual(randomDataset(42, 6, 1000, 7), a);
    const b = randomDataset(43, 6, 1000, 7);
    assert.ok(
      b.every((request, i) => request.prompt !== a[i]!.prompt),
      'another seed gives other prompts',
    );
  });

  it("builds long_doc_qa's pre-warm-up prompts and documents", () => {
    const pre = preWarmupPrompts();
    assert.equal(pre.length, 5);
    pre.forEach((prompt, i) => {
      assert.equal(countTokens(prompt), 1000);
      assert.ok(prompt.startsWith(`${i}xxhi hi`));
    });
    const docs = documentPrompts(3, 20);
    assert.deepEqual(
      docs.map((d) => tokenize(d)[0]),
      ['0', '1', '2'],
    );
    for (const doc of docs) assert.equal(countTokens(doc), 21, 'the id plus document-length tokens');
  });

  it('repeats prompts per mode', () => {
    const rng = new PyRandom(0);
    assert.deepEqual(repeatPrompts(['a', 'b', 'c'], 2, 'tile', rng), ['a', 'b', 'c', 'a', 'b', 'c']);
    assert.deepEqual(repeatPrompts(['a', 'b', 'c'], 2, 'interleave', rng), ['a', 'a', 'b', 'b', 'c', 'c']);
    const shuffled = repeatPrompts([0, 1, 2, 3, 4, 5], 2, 'random', new PyRandom(3));
    assert.deepEqual(shuffled, [1, 1, 4, 0, 0, 5, 4, 5, 2, 2, 3, 3]);
  });
});

describe('stats follow numpy', () => {
  it('treats an empty list as 0 and interpolates percentiles linearly', () => {
    assert.equal(mean([]), 0);
    assert.equal(median([]), 0);
    assert.equal(std([]), 0);
    assert.equal(percentile([], 99), 0);
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Math.abs(percentile([1, 2, 3, 4], 99) - 3.97) < 1e-12);
    assert.ok(Math.abs(percentile([0.2, 0.1, 0.4, 0.3, 0.5], 90) - 0.46) < 1e-12);
    assert.ok(Math.abs(std([1, 2, 3, 4]) - 1.118033988749895) < 1e-12);
  });
});

describe('SseParser', () => {
  it('reassembles events split anywhere, with LF or CRLF, skipping comments', () => {
    const stream = ': ping\r\n\r\ndata: {"a":1}\r\n\r\ndata: {"b":\ndata: 2}\n\ndata: [DONE]\n\n';
    for (const size of [1, 2, 3, 7, stream.length]) {
      const parser = new SseParser();
      const payloads: string[] = [];
      for (let i = 0; i < stream.length; i += size) payloads.push(...parser.push(stream.slice(i, i + size)));
      payloads.push(...parser.end());
      assert.deepEqual(payloads, ['{"a":1}', '{"b":\n2}', '[DONE]'], `chunk size ${size}`);
    }
  });

  it('keeps a final event the server closed without a blank line', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('data: {"x":1}\n\ndata: [DONE]'), ['{"x":1}']);
    assert.deepEqual(parser.end(), ['[DONE]']);
  });
});
