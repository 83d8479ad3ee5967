/**
 * The build stage at a ref (LMCACHE_REF) against the real Docker engine and real git: the sim image built from a
 * commit's tree of a repository holding the sim build context, never from its working copy; one image per commit,
 * found again rather than rebuilt unless REBUILD; the commit's `sim-defect` baked into the image's SIM_DEFECT.
 */
import assert from 'node:assert/strict';
import { appendFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { buildImage, COMMIT_LABEL, SIM_DEFECT_FILE, SOURCE_TREE_DIR } from '../../src/activities/build.js';
import { cleanupContainers } from '../../src/activities/cleanup.js';
import { resolveConfig, type ConfigInput } from '../../src/config/schema.js';
import { docker, isNotFound } from '../../src/docker/client.js';
import { makeSimRepo, type SimRepo } from '../helpers/sim-repo.js';

const MARKER = '// an uncommitted change that must never reach an image';

function activity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args);
}

/**
 * A file of an image as the tar archive the engine hands out (its bytes appear in it verbatim), read from a created,
 * never started container: the sim base has no shell to run `cat`. Undefined when the image has no such file.
 */
async function fileInImage(image: string, file: string): Promise<string | undefined> {
  const container = await docker().createContainer({ Image: image });
  try {
    const archive = await container.getArchive({ path: file }).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
    if (!archive) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of archive) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await container.remove({ force: true });
  }
}

describe('the build stage at a ref', { timeout: 900_000 }, () => {
  const repository = `lmcache-mp-sim-ref-it-${process.pid}`;
  const resultsDir = path.join(tmpdir(), `mp-test-build-at-ref-${process.pid}`);
  let repo: SimRepo;
  const config = (overrides: ConfigInput = {}) =>
    resolveConfig(
      { profile: 'sim', lmcacheRepoDir: repo.dir, image: `${repository}:test`, resultsDir, ...overrides },
      { workflowId: `it-build-at-ref-${process.pid}` },
    );

  before(async () => {
    // Commit 1 brings in slow-load; the working copy then says never-healthy and changes a server file.
    repo = await makeSimRepo({ commits: 3, defectAt: { 1: 'slow-load' } });
    await writeFile(path.join(repo.dir, SIM_DEFECT_FILE), 'never-healthy\n');
    await appendFile(path.join(repo.dir, 'dist/src/sim/vllm-server.js'), `\n${MARKER}\n`);
    await writeFile(path.join(repo.dir, 'dist/src/sim/uncommitted.js'), `${MARKER}\n`);
  });
  after(async () => {
    const images = await docker().listImages({ filters: { reference: [repository] } });
    for (const image of images) await docker().getImage(image.Id).remove({ force: true });
    await rm(repo.dir, { recursive: true, force: true });
    await rm(resultsDir, { recursive: true, force: true });
  });

  it("builds the ref's commit alone, tags and labels it with the commit, and bakes in its sim-defect", async () => {
    const head = repo.shas[2]!;
    const built = await activity(buildImage, config({ lmcacheRef: 'main' }));
    assert.equal(built.image, `${repository}:${head.slice(0, 12)}`);
    assert.equal(built.skipped, undefined);
    assert.ok(built.steps.length > 0, 'it built');
    assert.deepEqual(built.commit, {
      sha: head,
      subject: 'change 2',
      author: 'Sim Dev <sim@example.com>',
      date: '2026-11-01T00:02:00+00:00',
    });
    const inspected = await docker().getImage(built.image).inspect();
    assert.equal(inspected.Id, built.imageId);
    assert.equal(inspected.Config.Labels?.[COMMIT_LABEL], head);
    assert.ok(inspected.Config.Env.includes('SIM_DEFECT=slow-load'), inspected.Config.Env.join(' '));

    const server = await fileInImage(built.image, '/app/src/sim/vllm-server.js');
    assert.ok(server?.includes('createServer('), 'the server is in the image');
    assert.ok(!server?.includes(MARKER), 'the uncommitted change to vllm-server.js is not');
    assert.equal(await fileInImage(built.image, '/app/src/sim/uncommitted.js'), undefined, 'nor the untracked file');
    assert.ok((await stat(path.join(resultsDir, SOURCE_TREE_DIR, 'sim/image/Dockerfile'))).isFile());
  });

  it('finds the same commit’s image again instead of building, and builds it again with REBUILD', async () => {
    const head = repo.shas[2]!;
    // The same commit by another name: its short sha.
    const again = await activity(buildImage, config({ lmcacheRef: head.slice(0, 7) }));
    assert.equal(again.skipped, `image for ${head.slice(0, 12)} exists`);
    assert.deepEqual(again.steps, []);
    assert.equal(again.commit?.sha, head);
    assert.equal(again.imageId, (await docker().getImage(again.image).inspect()).Id);

    const rebuilt = await activity(buildImage, config({ lmcacheRef: 'main', rebuild: true }));
    assert.equal(rebuilt.skipped, undefined);
    assert.ok(rebuilt.steps.length > 0, 'REBUILD=1 ran the build');
    assert.equal(rebuilt.image, again.image);
  });

  it('gives each commit its own image: the one before the defect has none', async () => {
    const first = repo.shas[0]!;
    const built = await activity(buildImage, config({ lmcacheRef: first }));
    assert.equal(built.image, `${repository}:${first.slice(0, 12)}`);
    const inspected = await docker().getImage(built.image).inspect();
    assert.equal(inspected.Config.Labels?.[COMMIT_LABEL], first);
    assert.ok(inspected.Config.Env.includes('SIM_DEFECT='), inspected.Config.Env.join(' '));
  });

  it('cleanup removes the exported tree', async () => {
    await activity(cleanupContainers, { workflowId: `it-build-at-ref-${process.pid}`, resultsDir });
    await assert.rejects(stat(path.join(resultsDir, SOURCE_TREE_DIR)), { code: 'ENOENT' });
  });
});
