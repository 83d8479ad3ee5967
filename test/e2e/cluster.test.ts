/**
 * The pipeline on a production-shaped Temporal (scripts/temporal-cluster.sh): the server built from its Go module,
 * PostgreSQL, four service processes, a frontend that requires mTLS. A light sim run goes green over mTLS with the
 * README's run command; a client without the certificate is refused and told which variables to set.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { PROJECT_ROOT, temporalBinary } from '../helpers/temporal.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { leftoverContainers, readReport, removeStrayContainers, resultsDirOf, startRun } from './harness.js';

const CLUSTER = path.join(PROJECT_ROOT, 'scripts/temporal-cluster.sh');

/** The `export NAME=value` lines `up` prints, as an environment. */
function exportsOf(stdout: string): Record<string, string> {
  return Object.fromEntries(
    [...stdout.matchAll(/^export (TEMPORAL_[A-Z_]+)=(.*)$/gm)].map((match) => [match[1], match[2]]),
  );
}

/**
 * A frontend port whose cluster ports are free: gRPC +0..3, membership +10..13 and the UI +1000, below 32768 (membership
 * ports are stored as smallints), so not from the kernel's ephemeral range that freePort draws on.
 */
async function clusterPortBase(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let base = 21000 + (process.pid % 400) * 20; base < 32700; base += 20) {
    const ports = [0, 1, 2, 3, 10, 11, 12, 13, 1000].map((offset) => base + offset);
    if ((await Promise.all(ports.map(free))).every(Boolean)) return base;
  }
  throw new Error('no free block of cluster ports below 32768');
}

describe('on a Temporal cluster with PostgreSQL and mTLS', { timeout: 1_500_000 }, () => {
  let stateDir: string;
  let clusterEnv: Record<string, string>;
  let connection: Record<string, string>;

  before(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'temporal-cluster-'));
    const port = await clusterPortBase();
    clusterEnv = {
      TEMPORAL_CLUSTER_DIR: stateDir,
      TEMPORAL_CLUSTER_PORT: String(port),
      TEMPORAL_CLUSTER_PG_PORT: String(await freePort()),
    };
    // The first up builds the server (minutes, once per checkout); the second must find everything running.
    const up = await execa('bash', [CLUSTER, 'up'], { env: clusterEnv, reject: false, all: false });
    assert.equal(up.exitCode, 0, up.stderr);
    connection = exportsOf(up.stdout);
    const again = await execa('bash', [CLUSTER, 'up'], { env: clusterEnv, reject: false });
    assert.equal(again.exitCode, 0, again.stderr);
    assert.deepEqual(exportsOf(again.stdout), connection, 'up is idempotent and prints the same variables');
    assert.doesNotMatch(again.stderr, /starting|creating|registering/, 'a second up starts and creates nothing');
  });
  after(async () => {
    if (clusterEnv) {
      const down = await execa('bash', [CLUSTER, 'down'], { env: clusterEnv, reject: false, all: true });
      assert.equal(down.exitCode, 0, down.all);
      const status = await execa('bash', [CLUSTER, 'status'], { env: clusterEnv, reject: false, all: true });
      assert.notEqual(status.exitCode, 0, 'nothing runs after down');
      assert.doesNotMatch(status.all ?? '', /running/);
    }
    await removeStrayContainers();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('prints the TEMPORAL_* variables of an mTLS frontend, a namespace with 30-day retention and our search attributes', async () => {
    assert.deepEqual(Object.keys(connection).sort(), [
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TLS_CLIENT_CERT_PATH',
      'TEMPORAL_TLS_CLIENT_KEY_PATH',
      'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
      'TEMPORAL_TLS_SERVER_NAME',
    ]);
    const env = { ...process.env, ...connection };
    const namespace = await execa(temporalBinary(), ['operator', 'namespace', 'describe', '-o', 'json'], { env });
    assert.equal(JSON.parse(namespace.stdout).config.workflowExecutionRetentionTtl, '2592000s');
    const attributes = await execa(temporalBinary(), ['operator', 'search-attribute', 'list'], { env });
    const ours = await execa('node', ['dist/src/client/cli.js', 'search-attributes'], { cwd: PROJECT_ROOT });
    for (const line of ours.stdout.trim().split('\n')) {
      assert.match(attributes.stdout, new RegExp(`\\b${line.split(' ')[0]}\\b`));
    }
    const status = await execa('bash', [CLUSTER, 'status'], { env: clusterEnv, reject: false, all: true });
    assert.equal(status.exitCode, 0, status.all);
    for (const process of ['frontend', 'history', 'matching', 'worker', 'ui', 'postgres']) {
      assert.match(status.all ?? '', new RegExp(`^${process} +running \\(pid \\d+`, 'm'));
    }
  });

  it('serves the Temporal UI against the cluster, its server reaching the frontend with the client certificate', async () => {
    const uiPort = Number(clusterEnv.TEMPORAL_CLUSTER_PORT) + 1000;
    const page = await fetch(`http://127.0.0.1:${uiPort}/namespaces/${connection.TEMPORAL_NAMESPACE}/workflows`);
    assert.equal(page.status, 200);
    const api = await fetch(`http://127.0.0.1:${uiPort}/api/v1/namespaces/${connection.TEMPORAL_NAMESPACE}`);
    const body = await api.text();
    assert.equal(api.status, 200, body);
    const described = JSON.parse(body) as { namespaceInfo: { name: string } };
    assert.equal(described.namespaceInfo.name, connection.TEMPORAL_NAMESPACE);
  });

  it('refuses a client without the certificate, naming the TLS variables', async () => {
    const { TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_SERVER_CA_CERT_PATH } = connection;
    const withoutTls = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_')),
    );
    const tlsVariables =
      /TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH and\s+TEMPORAL_TLS_SERVER_CA_CERT_PATH/;
    // The README's run command over plain TCP.
    const run = await execa('bash', ['scripts/run-mp-test.sh'], {
      cwd: PROJECT_ROOT,
      env: { ...withoutTls, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, WORKER_RUNNING: '1', PROFILE: 'sim' },
      extendEnv: false,
      reject: false,
      all: true,
    });
    assert.notEqual(run.exitCode, 0, run.all);
    assert.match(run.all ?? '', /cannot reach Temporal at 127\.0\.0\.1:\d+: .*TLS/);
    assert.match(run.all ?? '', tlsVariables);
    // A worker over TLS that trusts the server but shows no certificate of its own.
    const worker = await execa('node', ['dist/src/worker.js'], {
      cwd: PROJECT_ROOT,
      env: {
        ...withoutTls,
        TEMPORAL_ADDRESS,
        TEMPORAL_NAMESPACE,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH,
        TEMPORAL_TLS_SERVER_NAME: 'localhost',
        TASK_QUEUE: `e2e-refused-${process.pid}`,
      },
      extendEnv: false,
      reject: false,
      all: true,
      timeout: 120_000,
    });
    assert.equal(worker.exitCode, 1, worker.all);
    // The server's refusal reaches the client as a TLS alert (CertificateRequired) or, when it closes first, as a
    // closed connection: either way the worker says it had no client certificate and which variables to set.
    assert.match(
      worker.all ?? '',
      /cannot reach Temporal at .*TLS without a client certificate.*(CertificateRequired|connection closed)/,
    );
    assert.match(worker.all ?? '', tlsVariables);
  });

  it('runs the pipeline green over mTLS with the README run command, its worker included', async () => {
    const buildId = `cluster-${process.pid}`;
    const run = await execa('bash', ['scripts/run-mp-test.sh'], {
      cwd: PROJECT_ROOT,
      env: {
        ...connection,
        TASK_QUEUE: `e2e-cluster-${process.pid}`,
        BUILD_ID: buildId,
        PROFILE: 'sim',
        STAGES: 'build,launch,health,long_doc_qa',
        NUM_DOCUMENTS: '6',
        SIM_GPU_CACHE_TOKENS: '4000',
      },
      reject: false,
      all: true,
    });
    assert.equal(run.exitCode, 0, run.all);
    assert.match(run.all, /using Temporal at 127\.0\.0\.1:\d+/);
    const report = await readReport(resultsDirOf(buildId));
    assert.equal(report.passed, true);
    assert.deepEqual(
      report.stages.map((s) => [s.name, s.status]),
      [
        ['build', 'passed'],
        ['select_gpus', 'passed'],
        ['launch', 'passed'],
        ['health', 'passed'],
        ['lm_eval', 'skipped'],
        ['vllm_bench', 'skipped'],
        ['long_doc_qa', 'passed'],
        ['cleanup', 'passed'],
      ],
    );
    assert.deepEqual(await leftoverContainers(`lmcache-mp-test-${buildId}`), []);
    // The run's search attributes landed in SQL visibility: it is found by them.
    const found = await execa(
      temporalBinary(),
      ['workflow', 'count', '--query', `LmcacheMpBuildId = '${buildId}' AND LmcacheMpVerdict = 'passed'`],
      { env: { ...process.env, ...connection } },
    );
    assert.match(found.stdout, /Total: 1\b/);
  });

  it('upgrades workers with Worker Versioning: a run finishes on the version it started on, new runs go to the new one, the old workers are drained', async () => {
    const env = { ...process.env, ...connection };
    const deployment = `e2e-versioning-${process.pid}`;
    const taskQueue = `e2e-versioning-${process.pid}`;
    const [versionA, versionB] = ['a', 'b'].map((v) => `${v}-${process.pid}`);
    // Version B's workflow code runs the benchmarks in the opposite order: a history of A does not replay on it.
    const copy = path.join(PROJECT_ROOT, '.run', `version-b-${process.pid}`);
    await cp(path.join(PROJECT_ROOT, 'dist/src'), path.join(copy, 'src'), { recursive: true });
    const pipelineJs = path.join(copy, 'src/workflows/pipeline.js');
    const original = await readFile(pipelineJs, 'utf8');
    const reordered = original.replace(/(const BENCHMARKS = )(\[[^;]*\]);/, '$1$2.reverse();');
    assert.notEqual(reordered, original, 'version B reorders the benchmarks');
    await writeFile(pipelineJs, reordered);
    const bundleB = path.join(copy, 'workflow-bundle.js');
    await execa('node', [path.join(copy, 'src/build/bundle-workflows.js'), bundleB]);
    const deploy = (version: string, bundle: string) =>
      execa('bash', ['scripts/deploy-worker.sh'], {
        cwd: PROJECT_ROOT,
        env: {
          ...env,
          WORKER_DEPLOYMENT_NAME: deployment,
          WORKER_BUILD_ID: version,
          WORKFLOW_BUNDLE: bundle,
          TASK_QUEUE: taskQueue,
        },
        reject: false,
        all: true,
      });
    const cli = (args: string[]) => execa(temporalBinary(), args, { env });
    const versionOf = async (workflowId: string) => {
      const described = await cli(['workflow', 'describe', '--workflow-id', workflowId, '-o', 'json']);
      return JSON.parse(described.stdout).workflowExecutionInfo.versioningInfo as {
        behavior: string;
        deploymentVersion: { buildId: string };
      };
    };
    const activityOrder = async (workflowId: string) => {
      const shown = await cli(['workflow', 'show', '--workflow-id', workflowId, '-o', 'json']);
      const events = JSON.parse(shown.stdout).events as {
        activityTaskScheduledEventAttributes?: { activityType: { name: string } };
      }[];
      return events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType.name ?? []);
    };

    try {
      const first = await deploy(versionA, path.join(PROJECT_ROOT, 'dist/workflow-bundle.js'));
      assert.equal(first.exitCode, 0, first.all);
      assert.match(first.all, new RegExp(`version ${versionA} is current in deployment ${deployment}`));

      // 1. A run on version A whose servers take 20 s to become healthy.
      const buildId = `versioning-${process.pid}`;
      const runA = `lmcache-mp-test-${buildId}`;
      await startRun({ cli }, taskQueue, runA, {
        profile: 'sim',
        buildId,
        stages: ['build', 'launch', 'health', 'lm_eval', 'long_doc_qa'],
        limit: 10,
        numDocuments: 6,
        simGpuCacheTokens: 4000,
        simStartupSeconds: 20,
      });
      await waitFor('run A waiting for health', async () => (await activityOrder(runA)).includes('waitForHealth'), {
        withinMs: 300_000,
        everyMs: 1000,
      });

      // 2.-3. Version B starts beside A and becomes current; deploy-worker.sh then waits for A to drain.
      const upgrade = deploy(versionB, bundleB);
      let output = '';
      upgrade.all?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await waitFor('version B current', () => output.includes(`version ${versionB} is current`), {
        withinMs: 120_000,
      });
      assert.match(output, new RegExp(`\\(was ${versionA}\\)`));

      // 5. A new run goes to B (input refused at once: only where it ran matters here).
      const runB = `e2e-versioning-new-${process.pid}`;
      await startRun({ cli }, taskQueue, runB, { profile: 'sim', numPrompts: -1 });
      await waitFor('the new run on a version', async () => (await versionOf(runB))?.deploymentVersion, {
        withinMs: 60_000,
      });
      assert.equal((await versionOf(runB)).deploymentVersion.buildId, versionB);

      // 4. The run on A completes green on A, in A's stage order; 6. then A's worker is stopped.
      const upgraded = await upgrade;
      assert.equal(upgraded.exitCode, 0, upgraded.all);
      assert.match(upgraded.all, new RegExp(`waiting for 1 open run\\(s\\) pinned to version ${versionA}`));
      assert.match(upgraded.all, new RegExp(`stopped 1 worker\\(s\\) of version ${versionA}`));
      const report = await readReport(resultsDirOf(buildId));
      assert.equal(report.passed, true, JSON.stringify(report.checks.filter((c) => !c.passed)));
      const pinned = await versionOf(runA);
      assert.equal(pinned.behavior, 'VERSIONING_BEHAVIOR_PINNED');
      assert.equal(pinned.deploymentVersion.buildId, versionA);
      const order = (await activityOrder(runA)).filter((name) => name === 'runLmEval' || name === 'runLongDocQa');
      assert.deepEqual([...new Set(order)], ['runLmEval', 'runLongDocQa'], "A's order, not B's");
      assert.deepEqual(await leftoverContainers(runA), []);
    } finally {
      // B's workers (and A's, if the test stopped early) were started by deploy-worker.sh: stop them by pid.
      const pidsDir = path.join(PROJECT_ROOT, '.run/workers', deployment);
      for (const version of [versionA, versionB]) {
        const files = await readdir(path.join(pidsDir, version)).catch(() => [] as string[]);
        for (const file of files) {
          try {
            process.kill(Number(path.basename(file, '.pid')), 'SIGTERM');
          } catch {
            // already gone
          }
        }
      }
      await rm(pidsDir, { recursive: true, force: true });
      await rm(copy, { recursive: true, force: true });
    }
  });

  it("survives the cluster's faults in one run: the frontend SIGKILLed mid-lm_eval, the history service mid-vllm_bench, PostgreSQL restarted mid-long_doc_qa", async () => {
    const env = { ...process.env, ...connection };
    const cli = (args: string[]) => execa(temporalBinary(), args, { env });
    const cluster = (args: string[]) => execa('bash', [CLUSTER, ...args], { env: clusterEnv, all: true });
    const taskQueue = `e2e-cluster-faults-${process.pid}`;
    const buildId = `cluster-faults-${process.pid}`;
    const workflowId = `lmcache-mp-test-${buildId}`;
    const worker = execa('node', ['dist/src/worker.js'], {
      cwd: PROJECT_ROOT,
      env: { ...env, TASK_QUEUE: taskQueue, WORKER_BECOME_CURRENT: '1' },
      reject: false,
      all: true,
    });
    try {
      await startRun({ cli }, taskQueue, workflowId, {
        profile: 'sim',
        buildId,
        stages: ['build', 'launch', 'health', 'lm_eval', 'vllm_bench', 'long_doc_qa'],
        limit: 10,
        numPrompts: 12,
        numDocuments: 6,
        simGpuCacheTokens: 4000,
      });
      const scheduled = async (activity: string) => {
        const shown = await cli(['workflow', 'show', '--workflow-id', workflowId, '-o', 'json']);
        const events = JSON.parse(shown.stdout).events as {
          activityTaskScheduledEventAttributes?: { activityType: { name: string } };
        }[];
        return events.some((e) => e.activityTaskScheduledEventAttributes?.activityType.name === activity);
      };
      const faults: [string, string[]][] = [
        ['runLmEval', ['frontend']],
        ['runVllmBench', ['history']],
        ['runLongDocQa', ['postgres']],
      ];
      for (const [activity, [process]] of faults) {
        await waitFor(`${activity} scheduled`, () => scheduled(activity), { withinMs: 600_000, everyMs: 500 });
        // PostgreSQL gets a fast shutdown and a start; a service is SIGKILLed, then started again.
        if (process !== 'postgres') await cluster(['kill', process]);
        await cluster(['restart', process]);
      }
      const result = await execa(temporalBinary(), ['workflow', 'result', '--workflow-id', workflowId], {
        env,
        reject: false,
        all: true,
      });
      assert.equal(result.exitCode, 0, `${result.all}\n${worker.all ?? ''}`);
      const report = await readReport(resultsDirOf(buildId));
      assert.equal(report.passed, true, JSON.stringify(report.checks.filter((c) => !c.passed)));
      assert.ok(
        report.stages.every((s) => s.status === 'passed'),
        JSON.stringify(report.stages.map((s) => [s.name, s.status])),
      );
      assert.deepEqual(await leftoverContainers(workflowId), []);
    } finally {
      worker.kill('SIGTERM');
      await worker;
    }
  });
});
