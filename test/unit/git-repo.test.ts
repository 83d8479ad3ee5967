/** The git calls of runs at a ref and of bisects, against real repositories in temporary directories. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { commitImageTag } from '../../src/activities/build.js';
import { listCandidateCommits, type CandidateCommits } from '../../src/activities/git.js';
import { FailureType } from '../../src/failures.js';
import {
  commitHasFile,
  commitInfo,
  exportTree,
  isAncestor,
  listFirstParent,
  notARepository,
  parseCommitLines,
  resolveCommit,
} from '../../src/git/repo.js';

describe('parseCommitLines', () => {
  it('reads sha, subject, author and date per line, subjects with any punctuation', () => {
    const sha = 'ab'.repeat(20);
    assert.deepEqual(parseCommitLines(`${sha}\0fix: a | b; "c"\0A B <a@b>\x002026-11-01T00:00:00+01:00\n`), [
      { sha, subject: 'fix: a | b; "c"', author: 'A B <a@b>', date: '2026-11-01T00:00:00+01:00' },
    ]);
    assert.deepEqual(parseCommitLines(''), []);
    assert.throws(() => parseCommitLines('not a commit\n'), /unexpected git log line/);
  });
});

describe('commitImageTag', () => {
  it("replaces the tag with the commit's short sha, keeping the repository and any registry path", () => {
    const sha = '0123456789abcdef0123456789abcdef01234567';
    assert.equal(commitImageTag('lmcache/vllm-openai:test', sha), 'lmcache/vllm-openai:0123456789ab');
    assert.equal(commitImageTag('lmcache-mp-sim', sha), 'lmcache-mp-sim:0123456789ab');
    assert.equal(
      commitImageTag('registry.example/lmcache/vllm:nightly', sha),
      'registry.example/lmcache/vllm:0123456789ab',
    );
  });
});

describe('git calls', () => {
  let repo: string;
  const shas: string[] = [];
  const git = (...args: string[]) =>
    execa('git', ['-C', repo, ...args], {
      env: {
        GIT_AUTHOR_NAME: 'Dev',
        GIT_AUTHOR_EMAIL: 'dev@example.com',
        GIT_COMMITTER_NAME: 'Dev',
        GIT_COMMITTER_EMAIL: 'dev@example.com',
      },
    });
  const commit = async (file: string, text: string, subject: string) => {
    await mkdir(path.dirname(path.join(repo, file)), { recursive: true });
    await writeFile(path.join(repo, file), text);
    await git('add', '--all');
    await git('commit', '--quiet', '--message', subject);
    shas.push((await git('rev-parse', 'HEAD')).stdout);
  };

  before(async () => {
    repo = await mkdtemp(path.join(tmpdir(), 'git-repo-'));
    await git('init', '--quiet', '--initial-branch=main');
    await commit('sub/a.txt', 'one\n', 'first');
    await commit('sub/b.txt', 'two\n', 'second');
    // A side branch merged into main: the first-parent line sees the merge, not the branch's commit.
    await git('checkout', '--quiet', '-b', 'side');
    await commit('side.txt', 'side\n', 'on the side');
    await git('checkout', '--quiet', 'main');
    await commit('sub/c.txt', 'three\n', 'third');
    await git('merge', '--quiet', '--no-ff', '--message', 'merge side', 'side');
    shas.push((await git('rev-parse', 'HEAD')).stdout);
    await git('tag', 'v1', shas[1]!);
  });
  after(() => rm(repo, { recursive: true, force: true }));

  it('tells a work tree (or a directory in one) from a directory that is none', async () => {
    assert.equal(await notARepository(repo), undefined);
    assert.equal(await notARepository(path.join(repo, 'sub')), undefined);
    const plain = await mkdtemp(path.join(tmpdir(), 'not-git-'));
    assert.match((await notARepository(plain)) ?? '', /not a git repository/);
    await rm(plain, { recursive: true });
  });

  it('resolves branches, tags, short shas and relative refs to full shas; nothing else', async () => {
    assert.equal(await resolveCommit(repo, 'v1'), shas[1]);
    assert.equal(await resolveCommit(repo, shas[0]!.slice(0, 8)), shas[0]);
    assert.equal(await resolveCommit(repo, 'main~1'), shas[3]);
    assert.equal(await resolveCommit(repo, 'nope'), undefined);
    assert.equal(await resolveCommit(repo, '--help'), undefined, 'never read as an option');
    assert.equal(await resolveCommit(repo, 'HEAD^{tree}'), undefined, 'a tree is no commit');
  });

  it('describes a commit and lists a first-parent range oldest first, bad last', async () => {
    const info = await commitInfo(repo, shas[1]!);
    assert.equal(info.subject, 'second');
    assert.equal(info.author, 'Dev <dev@example.com>');
    assert.match(info.date, /^\d{4}-\d\d-\d\dT/);
    const range = await listFirstParent(repo, shas[0]!, shas[4]!);
    assert.deepEqual(
      range.map((c) => c.subject),
      ['second', 'third', 'merge side'],
    );
    assert.ok(await isAncestor(repo, shas[0]!, shas[4]!));
    assert.ok(!(await isAncestor(repo, shas[4]!, shas[0]!)));
  });

  it("exports only a commit's tree, of the directory given, whatever the work tree holds", async () => {
    await writeFile(path.join(repo, 'sub/a.txt'), 'uncommitted\n');
    await writeFile(path.join(repo, 'sub/untracked.txt'), 'untracked\n');
    const dest = await mkdtemp(path.join(tmpdir(), 'tree-'));
    await writeFile(path.join(dest, 'stale.txt'), 'from an earlier attempt\n');
    await exportTree(path.join(repo, 'sub'), shas[1]!, dest);
    assert.deepEqual((await readdir(dest)).sort(), ['a.txt', 'b.txt']);
    assert.equal(await readFile(path.join(dest, 'a.txt'), 'utf8'), 'one\n');
    assert.ok(await commitHasFile(path.join(repo, 'sub'), shas[1]!, 'b.txt'));
    assert.ok(!(await commitHasFile(path.join(repo, 'sub'), shas[0]!, 'b.txt')));
    await rm(dest, { recursive: true });
    await git('checkout', '--', 'sub/a.txt');
    await rm(path.join(repo, 'sub/untracked.txt'));
  });

  describe('listCandidateCommits', () => {
    const list = (good: string, bad: string): Promise<CandidateCommits> =>
      new MockActivityEnvironment().run(listCandidateCommits, { repoDir: repo, good, bad });
    const refused = async (good: string, bad: string, message: RegExp) => {
      const error = await list(good, bad).then(
        () => assert.fail('expected a refusal'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, FailureType.InvalidBisectRange);
      assert.equal(error.nonRetryable, true);
      assert.match(error.message, message);
    };

    it('gives both ends described and the candidates oldest first, bad last', async () => {
      const found = await list('v1', 'main');
      assert.deepEqual([found.good.sha, found.bad.sha], [shas[1], shas[4]]);
      assert.deepEqual(
        found.candidates.map((c) => c.sha),
        [shas[3], shas[4]],
      );
    });

    it('refuses ends that name no commit, that are the same, or that are the wrong way round', async () => {
      await refused('nope', 'main', /^good: nope does not resolve to a commit/);
      await refused('v1', 'nope', /^bad: nope does not resolve to a commit/);
      await refused('v1', shas[1]!, /are the same commit/);
      await refused('main', 'v1', /^good \(main, [0-9a-f]{12}\) is not an ancestor of bad \(v1, [0-9a-f]{12}\)/);
    });
  });
});
