/**
 * `node write-tokenizer.js DIR`: writes the sim model's Hugging Face tokenizer files into DIR, for clients
 * that load a tokenizer (`vllm bench serve --tokenizer DIR`) and for the sim image (/app/model).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MAX_MODEL_LEN } from './cost-model.js';
import { tokenizerFiles } from './vocab.js';

export function writeTokenizer(directory: string): void {
  mkdirSync(directory, { recursive: true });
  for (const [name, text] of Object.entries(tokenizerFiles(MAX_MODEL_LEN)))
    writeFileSync(path.join(directory, name), text);
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const [directory] = process.argv.slice(2);
  if (!directory) {
    process.stderr.write('usage: write-tokenizer.js DIR\n');
    process.exit(2);
  }
  writeTokenizer(directory);
}
