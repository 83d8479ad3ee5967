/** What the build stage sends as context: the `.dockerignore` rules, and the Dockerfile whatever they say. */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { contextFilter } from '../../src/activities/build.js';

describe('the build context filter', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'context-'));
    for (const file of ['app/server.js', 'app/notes.txt', 'ci/images/Dockerfile', 'ci/secrets.env', 'big/blob']) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), '');
    }
    await writeFile(path.join(dir, '.dockerignore'), '*\n!app/*.js\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const sent = (dockerfile: string) => {
    const ignored = contextFilter(dir, dockerfile);
    return (relative: string) => !ignored(path.join(dir, relative));
  };

  it('sends what a `!` pattern brings back and nothing else', () => {
    const isSent = sent('ci/images/Dockerfile');
    assert.equal(isSent('app/server.js'), true);
    assert.equal(isSent('app/notes.txt'), false);
    assert.equal(isSent('big'), false, 'an ignored directory is not walked');
  });

  it('sends the Dockerfile from an ignored directory, and only it from there', () => {
    const isSent = sent('ci/images/Dockerfile');
    assert.equal(isSent('ci'), true, 'the directories on its path are walked');
    assert.equal(isSent('ci/images'), true);
    assert.equal(isSent('ci/images/Dockerfile'), true);
    assert.equal(isSent('ci/secrets.env'), false);
  });
});
