import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { checkoutFilesNeeded, inputFileProblems } from '../../src/config/input-files.js';
import { hasNodeInputs, resolveConfig, type ConfigInput } from '../../src/config/schema.js';

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

  describe('with LMCACHE_REF', () => {
    const git = (repo: string, ...args: string[]) =>
      execa('git', ['-C', repo, ...args], {
        env: { GIT_AUTHOR_NAME: 'D', GIT_AUTHOR_EMAIL: 'd@x', GIT_COMMITTER_NAME: 'D', GIT_COMMITTER_EMAIL: 'd@x' },
      });
    /** A checkout whose only commit lacks the Dockerfile, which the working copy then gains uncommitted. */
    async function repoWithoutCommittedDockerfile(): Promise<string> {
      const repo = await checkoutWith(['benchmarks/long_doc_qa/long_doc_qa.py']);
      await git(repo, 'init', '--quiet', '--initial-branch=main');
      await git(repo, 'add', '--all');
      await git(repo, 'commit', '--quiet', '--message', 'no Dockerfile yet');
      await mkdir(path.join(repo, 'docker'));
      await writeFile(path.join(repo, 'docker/Dockerfile'), '');
      return repo;
    }

    it('refuses a checkout that is no git repository, naming LMCACHE_REPO_DIR and the ref', async () => {
      const repo = await checkoutWith(['sim/image/Dockerfile']);
      const found = await problems({ profile: 'sim', lmcacheRepoDir: repo, lmcacheRef: 'main' });
      assert.equal(found.length, 1);
      assert.match(
        found[0],
        /^lmcacheRepoDir: \S+ \(LMCACHE_REPO_DIR\) is not a git repository on this node, so lmcacheRef \(LMCACHE_REF\) cannot be resolved in it: .*\(got "\S+"\)$/,
      );
    });

    it('refuses a ref that names no commit, naming LMCACHE_REF and its value', async () => {
      const repo = await repoWithoutCommittedDockerfile();
      assert.deepEqual(await problems({ profile: 'sim', lmcacheRepoDir: repo, lmcacheRef: 'v9.9' }), [
        `lmcacheRef: v9.9 (LMCACHE_REF) does not resolve to a commit in ${repo} (LMCACHE_REPO_DIR): is it fetched? (got "v9.9")`,
      ]);
    });

    it("looks for the build's Dockerfile in the ref's commit, not in the working copy", async () => {
      const repo = await repoWithoutCommittedDockerfile();
      const found = await problems({ lmcacheRepoDir: repo, lmcacheRef: 'main' });
      assert.equal(found.length, 1);
      assert.match(found[0], /has no docker\/Dockerfile at main \(LMCACHE_REF, commit [0-9a-f]{12}\) on this node/);
      assert.deepEqual(await problems({ lmcacheRepoDir: repo }), [], 'without a ref the working copy is built');
      await git(repo, 'add', '--all');
      await git(repo, 'commit', '--quiet', '--message', 'the Dockerfile');
      assert.deepEqual(await problems({ lmcacheRepoDir: repo, lmcacheRef: 'main' }), []);
    });

    it('makes the run check its input on the node', () => {
      assert.equal(hasNodeInputs(resolveConfig({ profile: 'sim' }, identity)), false);
      assert.equal(hasNodeInputs(resolveConfig({ profile: 'sim', lmcacheRef: 'main' }, identity)), true);
    });
  });
});
