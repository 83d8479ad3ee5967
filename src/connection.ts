/**
 * How the worker, the janitor and the client reach Temporal: Temporal's environment configuration, which the
 * `temporal` CLI and every SDK read too — TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH (and the rest of TEMPORAL_TLS_*),
 * over a profile (TEMPORAL_PROFILE, default "default") of temporal.toml (TEMPORAL_CONFIG_FILE, or the user's
 * config directory). So one set of variables serves `temporal workflow execute` and our processes alike.
 */
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';

/** The CLI's defaults when neither a variable nor a profile names them. */
const DEFAULT_ADDRESS = 'localhost:7233';
const DEFAULT_NAMESPACE = 'default';

type ConnectionOptions = ClientConnectConfig['connectionOptions'];

export interface TemporalConnectionSettings extends Pick<ConnectionOptions, 'tls' | 'apiKey' | 'metadata'> {
  address: string;
  namespace: string;
}

export function connectionSettings(env: NodeJS.ProcessEnv): TemporalConnectionSettings {
  // An empty variable means "not set", as in the shell scripts that pass them through.
  const set = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''),
  );
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: set });
  return {
    address: connectionOptions.address ?? DEFAULT_ADDRESS,
    namespace: namespace ?? DEFAULT_NAMESPACE,
    tls: connectionOptions.tls,
    apiKey: connectionOptions.apiKey,
    metadata: connectionOptions.metadata,
  };
}

/**
 * A failed connection, explained: a frontend that requires a client certificate closes the connection without
 * saying so, so the message names the variables that configure TLS and which of them are set.
 */
export function explainConnectionFailure(error: unknown, settings: TemporalConnectionSettings): Error {
  const tls = typeof settings.tls === 'object' && settings.tls !== null ? settings.tls : undefined;
  const given = tls?.clientCertPair
    ? 'a client certificate is configured'
    : settings.tls
      ? 'TLS without a client certificate'
      : 'no TLS';
  return new Error(
    `cannot reach Temporal at ${settings.address} (namespace ${settings.namespace}; ${given}): ${(error as Error).message}\n` +
      'A server that requires mTLS needs TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH and ' +
      'TEMPORAL_TLS_SERVER_CA_CERT_PATH (and TEMPORAL_TLS_SERVER_NAME when its certificate names another host); ' +
      'Temporal Cloud with an API key needs TEMPORAL_API_KEY.',
    { cause: error },
  );
}
