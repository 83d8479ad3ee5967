/** The machine-wide lock that makes the LMCache server image once when several runs start on a fresh node. */
import assert from 'node:assert/strict';
import { mkdir, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { holdingBuildLock, LMCACHE_SERVER_REPOSITORY } from '../../src/activities/lmcache-server-image.js';

const lockOf = (tag: string) => path.join(tmpdir(), `${LMCACHE_SERVER_REPOSITORY}-${tag}.lock`);

describe('LMCache server image build lock', () => {
  it('lets one build run at a time and tells the waiting one why it waits', async () => {
    const tag = `test-${process.pid}-serial`;
    const events: string[] = [];
    const waiting: string[] = [];
    const build = (name: string) => async () => {
      events.push(`${name} start`);
      await sleep(2500);
      events.push(`${name} end`);
    };
    await Promise.all([
      holdingBuildLock(tag, () => {}, build('first')),
      sleep(100).then(() => holdingBuildLock(tag, (message) => waiting.push(message), build('second'))),
    ]);
    assert.deepEqual(events, ['first start', 'first end', 'second start', 'second end']);
    assert.match(waiting[0], new RegExp(`waiting for another build of ${LMCACHE_SERVER_REPOSITORY}:${tag}`));
    await assert.rejects(stat(lockOf(tag)), { code: 'ENOENT' }, 'the lock is released');
  });

  it('releases the lock when the build fails', async () => {
    const tag = `test-${process.pid}-failing`;
    await assert.rejects(
      holdingBuildLock(
        tag,
        () => {},
        async () => {
          throw new Error('pip failed');
        },
      ),
      /pip failed/,
    );
    await assert.rejects(stat(lockOf(tag)), { code: 'ENOENT' });
  });

  it('takes over a lock that a killed build left behind long ago', async () => {
    const tag = `test-${process.pid}-stale`;
    await mkdir(lockOf(tag), { recursive: true });
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(lockOf(tag), anHourAgo, anHourAgo);
    let built = false;
    await holdingBuildLock(
      tag,
      () => {},
      async () => {
        built = true;
      },
    );
    assert.equal(built, true);
  });
});
