import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { checkoutFilesNeeded, inputFileProblems } from '../../src/config/input-files.js';
import { resolveConfig, type ConfigInput } from '../../src/config/schema.js';

const identity = { workflowId: 'wf-1' };

async function checkoutWith(files: string[]): Promise<string> {
  const repo = await mkdtemp(path.join(tmpdir(), 'lmcache-checkout-'));
  for (const file of files) {
    await mkdir(path.dirname(path.join(repo, file)), { recursive: true });
    await writeFile(path.join(repo, file), '');
  }
  return repo;
}

const problems = (input: ConfigInput) => inputFileProblems(resolveConfig(input, identity));

describe("a run's input on the worker's node", () => {
  it('gpu: the checkout holds the Dockerfile it builds and the long-doc QA script it runs', async () => {
    const repo = await checkoutWith(['docker/Dockerfile', 'benchmarks/long_doc_qa/long_doc_qa.py']);
    assert.deepEqual(await problems({ lmcacheRepoDir: repo }), []);
  });

  it('gpu: a directory that is no LMCache checkout is refused, naming LMCACHE_REPO_DIR and what is missing', async () => {
    const repo = await checkoutWith(['docker/Dockerfile']);
    const found = await problems({ lmcacheRepoDir: repo });
    assert.equal(found.length, 1);
    assert.match(found[0], /^lmcacheRepoDir: .* \(LMCACHE_REPO_DIR\) has no benchmarks\/long_doc_qa\/long_doc_qa\.py/);
    const nowhere = await problems({ lmcacheRepoDir: path.join(repo, 'nowhere') });
    assert.match(nowhere[0], /has no docker\/Dockerfile and benchmarks\/long_doc_qa\/long_doc_qa\.py/);
  });

  it('gpu: only what the selected stages use is needed', () => {
    const config = resolveConfig({ lmcacheRepoDir: '/src/LMCache', stages: ['launch', 'health'] }, identity);
    assert.deepEqual(checkoutFilesNeeded(config), []);
    assert.deepEqual(checkoutFilesNeeded(resolveConfig({ profile: 'sim' }, identity)), [], 'sim builds from here');
  });

  it('a model given as a path must be a directory here', async () => {
    const models = await checkoutWith(['Qwen3-14B/config.json']);
    assert.deepEqual(await problems({ profile: 'sim', model: path.join(models, 'Qwen3-14B') }), []);
    const missing = path.join(models, 'Qwen3-8B');
    assert.deepEqual(await problems({ profile: 'sim', model: missing }), [
      `model: ${missing} (MODEL) is not a directory on this node (got ${JSON.stringify(missing)})`,
    ]);
    const file = path.join(models, 'Qwen3-14B/config.json');
    assert.equal((await problems({ profile: 'sim', model: file })).length, 1, 'a file is not a model directory');
  });
});
