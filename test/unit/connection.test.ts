import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectionSettings, explainConnectionFailure } from '../../src/connection.js';

/** The files' contents come back as bytes. */
const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8'));

describe('connection settings: the temporal CLI environment configuration', () => {
  let dir: string;
  /** No user config directory, so a developer's own temporal.toml cannot leak into these tests. */
  let isolated: NodeJS.ProcessEnv;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'connection-'));
    isolated = { HOME: dir, XDG_CONFIG_HOME: dir };
    for (const name of ['client.pem', 'client.key', 'ca.pem'])
      await writeFile(path.join(dir, name), `contents of ${name}`);
    await writeFile(
      path.join(dir, 'temporal.toml'),
      [
        '[profile.default]',
        'address = "default.example:7233"',
        '[profile.ci]',
        'address = "ci.example:7233"',
        'namespace = "ci"',
        '[profile.ci.tls]',
        `server_ca_cert_path = "${path.join(dir, 'ca.pem')}"`,
      ].join('\n'),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('defaults to the local dev server without TLS', () => {
    assert.deepEqual(connectionSettings(isolated), {
      address: 'localhost:7233',
      namespace: 'default',
      tls: undefined,
      apiKey: undefined,
      metadata: undefined,
    });
  });

  it('reads TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, treating empty ones as unset', () => {
    const settings = connectionSettings({
      ...isolated,
      TEMPORAL_ADDRESS: 'temporal.example:7233',
      TEMPORAL_NAMESPACE: '',
    });
    assert.equal(settings.address, 'temporal.example:7233');
    assert.equal(settings.namespace, 'default');
  });

  it('reads the client certificate pair and the server CA from the TEMPORAL_TLS_*_PATH files', () => {
    const { tls } = connectionSettings({
      ...isolated,
      TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'client.pem'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'client.key'),
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'ca.pem'),
    });
    assert.ok(tls && typeof tls === 'object');
    assert.equal(text(tls.clientCertPair?.crt), 'contents of client.pem');
    assert.equal(text(tls.clientCertPair?.key), 'contents of client.key');
    assert.equal(text(tls.serverRootCACertificate), 'contents of ca.pem');
  });

  it('turns TLS on for an API key', () => {
    const settings = connectionSettings({ ...isolated, TEMPORAL_API_KEY: 'secret' });
    assert.equal(settings.apiKey, 'secret');
    assert.equal(settings.tls, true);
  });

  it('reads a profile of temporal.toml, and the variables override it', () => {
    const file = { ...isolated, TEMPORAL_CONFIG_FILE: path.join(dir, 'temporal.toml') };
    assert.equal(connectionSettings(file).address, 'default.example:7233');
    const ci = connectionSettings({ ...file, TEMPORAL_PROFILE: 'ci' });
    assert.deepEqual([ci.address, ci.namespace], ['ci.example:7233', 'ci']);
    assert.ok(ci.tls && typeof ci.tls === 'object');
    assert.equal(text(ci.tls.serverRootCACertificate), 'contents of ca.pem');
    assert.equal(
      connectionSettings({ ...file, TEMPORAL_PROFILE: 'ci', TEMPORAL_NAMESPACE: 'other' }).namespace,
      'other',
    );
  });

  it('refuses a profile that the file does not have', () => {
    assert.throws(
      () =>
        connectionSettings({
          ...isolated,
          TEMPORAL_CONFIG_FILE: path.join(dir, 'temporal.toml'),
          TEMPORAL_PROFILE: 'nope',
        }),
      /Profile 'nope' not found/,
    );
  });

  it('explains a failed connection: the TLS variables to set, and what was given', () => {
    const refused = new Error('transport error');
    const plain = explainConnectionFailure(refused, connectionSettings({ ...isolated, TEMPORAL_ADDRESS: 'a:1' }));
    assert.match(plain.message, /^cannot reach Temporal at a:1 \(namespace default; no TLS\): transport error/);
    assert.match(
      plain.message,
      /TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH and TEMPORAL_TLS_SERVER_CA_CERT_PATH/,
    );
    assert.equal(plain.cause, refused);
    const caOnly = { ...isolated, TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'ca.pem') };
    assert.match(
      explainConnectionFailure(refused, connectionSettings(caOnly)).message,
      /TLS without a client certificate/,
    );
    const mtls = {
      ...caOnly,
      TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'client.pem'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'client.key'),
    };
    assert.match(
      explainConnectionFailure(refused, connectionSettings(mtls)).message,
      /a client certificate is configured/,
    );
  });
});
