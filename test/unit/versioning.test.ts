import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { buildIdFileOf, gitBuildId, workerVersion } from '../../src/versioning.js';

describe('worker version: WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID', () => {
  let dir: string;
  let bundle: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'versioning-'));
    bundle = path.join(dir, 'workflow-bundle.js');
    await writeFile(bundle, '');
  });
  after(() => rm(dir, { recursive: true }));

  it('defaults to deployment lmcache-mp and the build id recorded beside the bundle', async () => {
    await writeFile(buildIdFileOf(bundle), 'abc123-dirty\n');
    assert.deepEqual(workerVersion({}, bundle), {
      deploymentName: 'lmcache-mp',
      buildId: 'abc123-dirty',
      becomeCurrent: 'if-first',
    });
    assert.deepEqual(
      workerVersion({ WORKER_DEPLOYMENT_NAME: 'ci', WORKER_BUILD_ID: 'v2', WORKER_BECOME_CURRENT: '1' }, bundle),
      { deploymentName: 'ci', buildId: 'v2', becomeCurrent: 'always' },
    );
  });

  it('refuses bad names, naming the variable and the value, and a bundle without a build id', async () => {
    assert.throws(() => workerVersion({ WORKER_DEPLOYMENT_NAME: 'a.b' }, bundle), /WORKER_DEPLOYMENT_NAME .*"a\.b"/);
    assert.throws(() => workerVersion({ WORKER_BUILD_ID: 'has space' }, bundle), /WORKER_BUILD_ID .*"has space"/);
    assert.throws(() => workerVersion({ WORKER_BECOME_CURRENT: 'yes' }, bundle), /WORKER_BECOME_CURRENT .*"yes"/);
    await rm(buildIdFileOf(bundle));
    assert.throws(() => workerVersion({}, bundle), /no WORKER_BUILD_ID and no .*build-id/);
  });

  it('is the commit, with -dirty once a file changes, and none outside a checkout', async () => {
    const repo = path.join(dir, 'repo');
    const git = (...args: string[]) => execa('git', ['-C', repo, ...args]);
    await execa('git', ['init', '-q', repo]);
    await writeFile(path.join(repo, 'a.txt'), 'a');
    await git('add', 'a.txt');
    await git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'a');
    const head = (await git('rev-parse', '--short=12', 'HEAD')).stdout;
    assert.equal(await gitBuildId(repo), head);
    await writeFile(path.join(repo, 'a.txt'), 'b');
    assert.equal(await gitBuildId(repo), `${head}-dirty`);
    assert.equal(await gitBuildId(dir), undefined);
  });
});
