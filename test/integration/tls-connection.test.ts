/**
 * One set of Temporal connection variables (TEMPORAL_ADDRESS, TEMPORAL_TLS_CLIENT_CERT_PATH,
 * TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH) takes the worker, the `temporal` CLI and the
 * janitor over mutual TLS to the same server. `temporal server start-dev` cannot serve TLS, so the test puts a
 * TLS-terminating proxy (node:tls, client certificates required) in front of a plain dev server, with a CA and
 * certificates made by openssl here.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer, type Server } from 'node:tls';
import { execa } from 'execa';
import { LABEL_RESULTS_DIR, LABEL_ROLE, LABEL_WORKFLOW_ID } from '../../src/commands/containers.js';
import type { RunReport } from '../../src/report/types.js';
import { verdict } from '../../src/report/verdict.js';
import { docker } from '../../src/docker/client.js';
import { containersOf } from '../../src/docker/containers.js';
import { PROJECT_ROOT, temporalBinary } from '../helpers/temporal.js';
import { DevServer, WorkerProcess } from '../helpers/temporal-processes.js';

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
async function makeCertificates(dir: string): Promise<void> {
  const openssl = (args: string[]) => execa('openssl', args, { cwd: dir });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl([
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=lmcache-mp test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const leaves = [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ];
  for (const [name, extensions] of leaves) {
    await writeFile(path.join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\n${extensions}`);
    await openssl(['req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    await openssl([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    ]);
  }
}

/** Terminates TLS (client certificate required, gRPC's ALPN h2) and passes the bytes on to the plain server. */
async function startTlsProxy(dir: string, upstreamPort: number): Promise<{ port: number; close: () => Promise<void> }> {
  const read = (name: string) => readFile(path.join(dir, name));
  const sockets = new Set<Socket>();
  const server: Server = createServer(
    {
      key: await read('server.key'),
      cert: await read('server.pem'),
      ca: await read('ca.pem'),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (client) => {
      const upstream = connect(upstreamPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => {
          sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('TLS from the Temporal environment variables', { timeout: 600_000 }, () => {
  const taskQueue = `tls-${process.pid}`;
  const buildId = `tls-${process.pid}`;
  const workflowId = `lmcache-mp-test-${buildId}`;
  const resultsDir = `/tmp/lmcache_ci_results_${buildId}`;
  let dir: string;
  let server: DevServer;
  let proxy: Awaited<ReturnType<typeof startTlsProxy>>;
  let worker: WorkerProcess | undefined;
  let tlsEnv: Record<string, string>;

  /** The temporal CLI with exactly these connection variables (no flags). */
  const cli = (args: string[], env: Record<string, string>) =>
    execa(temporalBinary(), args, { env, reject: false, all: true });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'temporal-tls-'));
    await makeCertificates(dir);
    server = await DevServer.start();
    proxy = await startTlsProxy(dir, Number(server.address.split(':')[1]));
    tlsEnv = {
      TEMPORAL_ADDRESS: `127.0.0.1:${proxy.port}`,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'client.pem'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'client.key'),
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'ca.pem'),
    };
  });
  after(async () => {
    await worker?.stop();
    await proxy?.close();
    await server?.stop();
    const leftovers = await containersOf(workflowId);
    for (const container of leftovers) await docker().getContainer(container.id).remove({ force: true });
    await rm(dir, { recursive: true, force: true });
    await rm(resultsDir, { recursive: true, force: true });
  });

  it('is really required: without the client certificate, or without TLS, the proxy lets no one in', async () => {
    const { TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, ...withoutClientCertificate } = tlsEnv;
    for (const env of [{ TEMPORAL_ADDRESS: tlsEnv.TEMPORAL_ADDRESS }, withoutClientCertificate]) {
      const health = await cli(['operator', 'cluster', 'health', '--command-timeout', '5s'], env);
      assert.notEqual(health.exitCode, 0, health.all);
    }
    const health = await cli(['operator', 'cluster', 'health'], tlsEnv);
    assert.equal(health.exitCode, 0, health.all);
  });

  it('takes the worker, the CLI and the janitor to the same server', async () => {
    worker = WorkerProcess.start(taskQueue, tlsEnv);
    await worker.waitUntilPolling();

    // The CLI starts a run and the worker runs it: the build stage alone, so no checks.
    const run = await cli(
      [
        'workflow',
        'execute',
        '--type',
        'lmcacheMpTest',
        '--task-queue',
        taskQueue,
        '--workflow-id',
        workflowId,
        '--input',
        JSON.stringify({ profile: 'sim', buildId, stages: ['build'] }),
      ],
      tlsEnv,
    );
    assert.equal(run.exitCode, 0, run.all);
    const report = JSON.parse(await readFile(path.join(resultsDir, 'report.json'), 'utf8')) as RunReport;
    const ran = report.stages.filter((s) => s.status !== 'skipped');
    assert.deepEqual(
      ran.map((s) => [s.name, s.status]),
      [
        ['build', 'passed'],
        ['cleanup', 'passed'],
      ],
    );
    assert.equal(verdict(report), 'passed — no checks selected');

    // A container of that finished run, as a terminated run would leave it: the janitor asks the server
    // about the run and removes it.
    await docker().createContainer({
      name: `lmcache-mp-tls-janitor-${process.pid}`,
      Image: 'lmcache-mp-sim:test',
      Labels: { [LABEL_WORKFLOW_ID]: workflowId, [LABEL_ROLE]: 'lmcache', [LABEL_RESULTS_DIR]: resultsDir },
    });
    const janitor = await execa('node', ['dist/src/client/cli.js', 'janitor'], {
      cwd: PROJECT_ROOT,
      env: tlsEnv,
      reject: false,
      all: true,
    });
    assert.equal(janitor.exitCode, 0, janitor.all);
    assert.match(janitor.all ?? '', new RegExp(`${workflowId}: COMPLETED; removed`), janitor.all);
    assert.deepEqual(await containersOf(workflowId), []);
  });

  it('takes the same settings from a temporal.toml profile', async () => {
    const configFile = path.join(dir, 'temporal.toml');
    await writeFile(
      configFile,
      [
        '[profile.tls-test]',
        `address = "${tlsEnv.TEMPORAL_ADDRESS}"`,
        '[profile.tls-test.tls]',
        `client_cert_path = "${tlsEnv.TEMPORAL_TLS_CLIENT_CERT_PATH}"`,
        `client_key_path = "${tlsEnv.TEMPORAL_TLS_CLIENT_KEY_PATH}"`,
        `server_ca_cert_path = "${tlsEnv.TEMPORAL_TLS_SERVER_CA_CERT_PATH}"`,
        '',
      ].join('\n'),
    );
    const profile = { TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'tls-test' };
    const described = await cli(['workflow', 'describe', '--workflow-id', workflowId], profile);
    assert.equal(described.exitCode, 0, described.all);
    await docker().createContainer({
      name: `lmcache-mp-tls-janitor-${process.pid}`,
      Image: 'lmcache-mp-sim:test',
      Labels: { [LABEL_WORKFLOW_ID]: workflowId, [LABEL_ROLE]: 'lmcache', [LABEL_RESULTS_DIR]: resultsDir },
    });
    const janitor = await execa('node', ['dist/src/client/cli.js', 'janitor', '--dry-run'], {
      cwd: PROJECT_ROOT,
      env: profile,
      reject: false,
      all: true,
    });
    assert.match(janitor.all ?? '', new RegExp(`${workflowId}: COMPLETED; would remove`), janitor.all);
  });
});
