/**
 * The Docker stages against the real Docker engine with the sim image: build, launch (and its retry), health
 * wait (and its failures), cleanup. Activities run in a mock activity context; Docker and the servers are real.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { buildImage } from '../../src/activities/build.js';
import { cleanupContainers } from '../../src/activities/cleanup.js';
import { waitForHealth } from '../../src/activities/health.js';
import { launchContainers } from '../../src/activities/launch.js';
import { containerName, LABEL_ROLE, LABEL_WORKFLOW_ID } from '../../src/commands/containers.js';
import { resolveConfig, type ConfigInput } from '../../src/config/schema.js';
import { docker } from '../../src/docker/client.js';
import { containersOf } from '../../src/docker/containers.js';
import { FailureType } from '../../src/failures.js';

// Pinned, LMCache's HTTP frontend (http_server, the default) included, so that nothing here takes a common port.
const PORTS = { vllmPort: 18000, vllmBaselinePort: 19000, lmcachePort: 16555, lmcacheHttpPort: 16556 };

function simConfig(workflowId: string, overrides: ConfigInput = {}) {
  return resolveConfig(
    { profile: 'sim', ...PORTS, simStartupSeconds: 1, maxWaitSeconds: 20, ...overrides },
    { workflowId },
  );
}

function activity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args);
}

async function expectFailure(promise: Promise<unknown>, type: string): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApplicationFailure, `expected ApplicationFailure ${type}, got ${error}`);
    assert.equal(error.type, type, error.message);
    return error;
  }
  assert.fail(`expected a ${type} failure`);
}

describe('Docker stages with the sim image', { timeout: 300_000 }, () => {
  const resultsDir = path.join(tmpdir(), `mp-test-integration-${process.pid}`);
  const used: string[] = [];
  const workflowId = (name: string) => {
    const id = `it-${name}-${process.pid}`;
    used.push(id);
    return id;
  };

  before(async () => {
    await activity(buildImage, simConfig('it-build'));
  });
  after(async () => {
    for (const id of used) await activity(cleanupContainers, { workflowId: id, resultsDir });
    await rm(resultsDir, { recursive: true, force: true });
  });

  it('builds the sim image from the repository without pulling, and rebuilds from cache', async () => {
    const result = await activity(buildImage, simConfig('it-build'));
    assert.equal(result.image, 'lmcache-mp-sim:test');
    const image = await docker().getImage('lmcache-mp-sim:test').inspect();
    assert.equal(image.Id, result.imageId);
    assert.deepEqual(image.Config.Entrypoint, ['/usr/bin/node', '/app/src/sim/vllm-server.js']);
    const mountStep = result.steps.find((step) => step.name.includes('RUN --mount=type=cache'));
    assert.ok(
      mountStep,
      `the sim Dockerfile's RUN --mount step went through BuildKit: ${JSON.stringify(result.steps)}`,
    );
    assert.ok(mountStep.done || mountStep.cached);
    // Beside it, the real LMCache MP server's image, tagged by the hash of what went in.
    assert.match(result.lmcacheServerImage ?? '', /^lmcache-mp-lmcache-server:[0-9a-f]{16}$/);
    const lmcacheImage = await docker().getImage(result.lmcacheServerImage!).inspect();
    assert.ok(lmcacheImage.Config.Env.includes('LMCACHE_TRACK_USAGE=false'));
  });

  it("builds a multi-stage Dockerfile with cache and bind mounts through BuildKit, running only the target's stages", async () => {
    const context = await mkdtemp(path.join(tmpdir(), 'buildkit-'));
    const node = (script: string) => JSON.stringify(['/usr/bin/node', '-e', script]);
    await writeFile(
      path.join(context, 'Dockerfile'),
      [
        'ARG BASE_IMAGE',
        'FROM ${BASE_IMAGE} AS deps',
        `RUN --mount=type=cache,target=/cache ${node("require('fs').writeFileSync('/dep.txt', 'from deps')")}`,
        'FROM ${BASE_IMAGE} AS unused',
        `RUN ${node("console.log('unused stage ran')")}`,
        'FROM ${BASE_IMAGE} AS final',
        `RUN --mount=type=bind,from=deps,source=/dep.txt,target=/mnt/dep.txt ${node("require('fs').copyFileSync('/mnt/dep.txt', '/copied.txt')")}`,
        '',
      ].join('\n'),
    );
    const config = simConfig('it-buildkit', {
      lmcacheRepoDir: context,
      dockerfile: 'Dockerfile',
      buildTarget: 'final',
      image: 'lmcache-mp-buildkit:test',
    });
    try {
      const result = await activity(buildImage, config);
      const names = result.steps.map((step) => step.name);
      assert.ok(
        names.some((name) => /\[deps .*RUN --mount=type=cache/.test(name)),
        names.join('\n'),
      );
      assert.ok(
        names.some((name) => /\[final .*RUN --mount=type=bind,from=deps/.test(name)),
        names.join('\n'),
      );
      assert.ok(!names.some((name) => name.includes('unused')), `a stage outside the target ran: ${names.join('\n')}`);
      const container = await docker().createContainer({
        Image: 'lmcache-mp-buildkit:test',
        Cmd: ['/usr/bin/node', '-e', "process.stdout.write(require('fs').readFileSync('/copied.txt', 'utf8'))"],
      });
      await container.start();
      await container.wait();
      const logs = (await container.logs({ stdout: true })).toString('utf8');
      await container.remove();
      assert.match(logs, /from deps/);
    } finally {
      await docker()
        .getImage('lmcache-mp-buildkit:test')
        .remove()
        .catch(() => undefined);
      await rm(context, { recursive: true, force: true });
    }
  });

  it('reports the tail of the build log when a build fails', async () => {
    const context = await mkdtemp(path.join(tmpdir(), 'bad-build-'));
    const config = simConfig('it-bad-build', {
      lmcacheRepoDir: context,
      dockerfile: 'Dockerfile',
      buildTarget: 'base',
      image: 'lmcache-mp-broken:test',
    });
    await writeFile(
      path.join(context, 'Dockerfile'),
      'ARG BASE_IMAGE\nFROM ${BASE_IMAGE} AS base\nRUN ["/usr/bin/node", "-e", "console.log(\'about to fail\'); process.exit(3)"]\n',
    );
    const failure = await expectFailure(activity(buildImage, config), FailureType.BuildFailed);
    assert.match(failure.message, /building lmcache-mp-broken:test failed/);
    assert.match(failure.message, /last 40 lines of the build log/);
    assert.match(failure.message, /RUN \["\/usr\/bin\/node"/);
    assert.match(failure.message, /about to fail/, "the failed step's own output, decoded from BuildKit's trace");
    await rm(context, { recursive: true, force: true });
  });

  it('launches three labelled containers, reuses them on a retried launch, and waits until all are healthy', async () => {
    const id = workflowId('launch');
    const config = simConfig(id);
    const first = await activity(launchContainers, { config, workflowId: id });
    assert.deepEqual(
      first.containers.map((c) => [c.role, c.name, c.reused]),
      [
        ['lmcache', containerName('lmcache', id), false],
        ['vllm', containerName('vllm', id), false],
        ['baseline', containerName('baseline', id), false],
      ],
    );
    const inspected = await docker().getContainer(containerName('vllm', id)).inspect();
    assert.equal(inspected.HostConfig.NetworkMode, 'host');
    assert.equal(inspected.HostConfig.IpcMode, 'host');
    assert.equal(inspected.Config.Labels[LABEL_WORKFLOW_ID], id);
    assert.equal(inspected.Config.Labels[LABEL_ROLE], 'vllm');
    assert.ok(inspected.Config.Env.includes('VLLM_BATCH_INVARIANT=1'));

    const retried = await activity(launchContainers, { config, workflowId: id });
    assert.deepEqual(
      retried.containers.map((c) => c.id),
      first.containers.map((c) => c.id),
    );
    assert.ok(retried.containers.every((c) => c.reused));

    const health = await activity(waitForHealth, { config, workflowId: id });
    assert.deepEqual(health.servers.map((s) => s.role).sort(), ['baseline', 'lmcache', 'vllm']);
    assert.equal(
      health.servers.find((s) => s.role === 'lmcache')?.probe,
      `GET http://127.0.0.1:${PORTS.lmcacheHttpPort}/healthcheck: 200 {"status":"healthy"}`,
      'the sim runs the same module as the gpu profile, and says which probe decided',
    );
    const models = (await (await fetch(`http://127.0.0.1:${PORTS.vllmPort}/v1/models`)).json()) as {
      data: Array<{ id: string }>;
    };
    assert.equal(models.data[0].id, config.model);
  });

  it('cleans up: saves each log tail, removes its containers only, and can run again', async () => {
    const id = used[used.length - 1];
    const foreign = await docker().createContainer({
      name: `foreign-${process.pid}`,
      Image: 'lmcache-mp-sim:test',
      Labels: { [LABEL_WORKFLOW_ID]: 'someone-else' },
    });
    try {
      const result = await activity(cleanupContainers, { workflowId: id, resultsDir });
      assert.equal(result.removed.length, 3);
      assert.deepEqual(await containersOf(id), []);
      const logs = await readdir(path.join(resultsDir, 'container_logs'));
      assert.ok(logs.includes(`vllm-${containerName('vllm', id)}.log`), logs.join(','));
      const vllmLog = await readFile(
        path.join(resultsDir, 'container_logs', `vllm-${containerName('vllm', id)}.log`),
        'utf8',
      );
      assert.ok(vllmLog.trim().split('\n').length <= 50);
      assert.ok(vllmLog.length > 0, 'the log tail is not empty');
      assert.equal((await containersOf('someone-else')).length, 1, "another run's container is untouched");
      assert.deepEqual((await activity(cleanupContainers, { workflowId: id, resultsDir })).removed, []);
    } finally {
      await foreign.remove({ force: true });
    }
  });

  it('replaces its own stale container on a retried launch', async () => {
    const id = workflowId('stale');
    const config = simConfig(id);
    const first = await activity(launchContainers, { config, workflowId: id });
    await docker().getContainer(first.containers[2].id).stop({ t: 1 });
    const retried = await activity(launchContainers, { config, workflowId: id });
    assert.equal(retried.containers[0].id, first.containers[0].id, 'the running LMCache container is kept');
    assert.notEqual(retried.containers[2].id, first.containers[2].id, 'the stopped baseline is replaced');
    await activity(cleanupContainers, { workflowId: id, resultsDir });
  });

  it('refuses to touch a container of another run that holds its name', async () => {
    const id = workflowId('conflict');
    const squatter = await docker().createContainer({
      name: containerName('lmcache', id),
      Image: 'lmcache-mp-sim:test',
    });
    try {
      const failure = await expectFailure(
        activity(launchContainers, { config: simConfig(id), workflowId: id }),
        FailureType.ContainerNameConflict,
      );
      assert.match(failure.message, /belongs to no pipeline run; not touching it/);
      assert.ok((await squatter.inspect()).Id, 'the other container is still there');
    } finally {
      await squatter.remove({ force: true });
    }
  });

  it('fails the health wait after MAX_WAIT_SECONDS with the log tail when a server never gets healthy', async () => {
    const id = workflowId('never-healthy');
    const config = simConfig(id, { simDefect: 'never-healthy', maxWaitSeconds: 3 });
    await activity(launchContainers, { config, workflowId: id });
    const failure = await expectFailure(
      activity(waitForHealth, { config, workflowId: id }),
      FailureType.ServersNotHealthy,
    );
    assert.match(
      failure.message,
      new RegExp(
        `not healthy after MAX_WAIT_SECONDS=3: ${containerName('vllm', id)} \\(vllm, port ${PORTS.vllmPort}\\)`,
      ),
    );
    assert.match(failure.message, /last 50 log lines/);
    assert.doesNotMatch(
      failure.message,
      new RegExp(containerName('baseline', id)),
      'the healthy baseline is not blamed',
    );
    await activity(cleanupContainers, { workflowId: id, resultsDir });
  });

  it('fails the health wait at once, naming the container, when a server stops', async () => {
    const id = workflowId('stopped');
    const config = simConfig(id, { simStartupSeconds: 60, maxWaitSeconds: 120 });
    const launched = await activity(launchContainers, { config, workflowId: id });
    await docker().getContainer(launched.containers[2].id).stop({ t: 1 });
    const failure = await expectFailure(
      activity(waitForHealth, { config, workflowId: id }),
      FailureType.ContainerExited,
    );
    assert.match(
      failure.message,
      new RegExp(`container ${containerName('baseline', id)} stopped before becoming healthy`),
    );
    await activity(cleanupContainers, { workflowId: id, resultsDir });
  });
});
