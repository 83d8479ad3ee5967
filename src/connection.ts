/** How the worker and the client reach Temporal: the same environment variables as the `temporal` CLI. */
import { readFileSync } from 'node:fs';

export interface TemporalConnectionSettings {
  address: string;
  namespace: string;
  tls?: { clientCertPair?: { crt: Buffer; key: Buffer }; serverRootCACertificate?: Buffer } | true;
  apiKey?: string;
}

export function connectionSettings(env: NodeJS.ProcessEnv): TemporalConnectionSettings {
  const certPath = env.TEMPORAL_TLS_CERT;
  const keyPath = env.TEMPORAL_TLS_KEY;
  if (Boolean(certPath) !== Boolean(keyPath)) {
    throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be given together');
  }
  const caPath = env.TEMPORAL_TLS_CA;
  const wantsTls = Boolean(certPath || caPath || env.TEMPORAL_API_KEY || env.TEMPORAL_TLS === 'true');
  return {
    address: env.TEMPORAL_ADDRESS || 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    apiKey: env.TEMPORAL_API_KEY || undefined,
    tls: wantsTls
      ? certPath || caPath
        ? {
            ...(certPath && keyPath ? { clientCertPair: { crt: readFileSync(certPath), key: readFileSync(keyPath) } } : {}),
            ...(caPath ? { serverRootCACertificate: readFileSync(caPath) } : {}),
          }
        : true
      : undefined,
  };
}
