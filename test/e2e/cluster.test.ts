/**
 * The pipeline on a production-shaped Temporal (scripts/temporal-cluster.sh): the server built from its Go module,
 * PostgreSQL, four service processes, a frontend that requires mTLS. A light sim run goes green over mTLS with the
 * README's run command; a client without the certificate is refused and told which variables to set.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { PROJECT_ROOT, temporalBinary } from '../helpers/temporal.js';
import { freePort } from '../helpers/ports.js';
import { leftoverContainers, readReport, removeStrayContainers, resultsDirOf } from './harness.js';

const CLUSTER = path.join(PROJECT_ROOT, 'scripts/temporal-cluster.sh');

/** The `export NAME=value` lines `up` prints, as an environment. */
function exportsOf(stdout: string): Record<string, string> {
  return Object.fromEntries(
    [...stdout.matchAll(/^export (TEMPORAL_[A-Z_]+)=(.*)$/gm)].map((match) => [match[1], match[2]]),
  );
}

/**
 * A frontend port whose cluster ports are free: gRPC +0..3 and membership +10..13, all below 32768 (membership
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
    const ports = [0, 1, 2, 3, 10, 11, 12, 13].map((offset) => base + offset);
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
    for (const process of ['frontend', 'history', 'matching', 'worker', 'postgres']) {
      assert.match(status.all ?? '', new RegExp(`^${process} +running \\(pid \\d+`, 'm'));
    }
  });

  it('refuses a client without the certificate, naming the TLS variables', async () => {
    const { TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_SERVER_CA_CERT_PATH } = connection;
    const withoutTls = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_')),
    );
    // Plain TCP, then TLS that trusts the server but shows no certificate of its own.
    for (const tls of [{}, { TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME: 'localhost' }]) {
      const run = await execa('bash', ['scripts/run-mp-test.sh'], {
        cwd: PROJECT_ROOT,
        env: { ...withoutTls, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ...tls, WORKER_RUNNING: '1', PROFILE: 'sim' },
        extendEnv: false,
        reject: false,
        all: true,
      });
      assert.notEqual(run.exitCode, 0, run.all);
      assert.match(run.all ?? '', /cannot reach Temporal at 127\.0\.0\.1:\d+/);
      assert.match(
        run.all ?? '',
        /TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH and TEMPORAL_TLS_SERVER_CA_CERT_PATH/,
      );
    }
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
});
