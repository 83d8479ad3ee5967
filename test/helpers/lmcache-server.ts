/**
 * The real LMCache MP server (the sim's image of PyPI lmcache) in a container of its own for a test: the
 * reference command line, host network and IPC (the KV cache's shared-memory files are the host's), its own ports.
 */
import { ensureLmcacheServerImage } from '../../src/activities/lmcache-server-image.js';
import { LMCACHE_PYTHON, lmcacheServerArgs } from '../../src/commands/containers.js';
import type { LmcacheServerModule } from '../../src/config/schema.js';
import { docker, isNotFound, isNotModified } from '../../src/docker/client.js';
import { LmcacheMpClient } from '../../src/lmcache-mp/client.js';
import { SharedKvCache, type KvGeometry } from '../../src/lmcache-mp/shared-kv-cache.js';
import type { CacheKey } from '../../src/lmcache-mp/wire.js';
import { parsePrometheusText } from '../../src/metrics/prometheus-text.js';
import { freePort } from './ports.js';

const START_TIMEOUT_MS = 90_000;

export interface TestLmcacheServer {
  port: number;
  /** Where it serves /metrics: its Prometheus exporter (`server`) or its HTTP frontend (`http_server`). */
  metricsPort: number;
  /** `http_server` only. */
  httpPort?: number;
  endpoint: string;
  /** Its Prometheus counters and gauges, each summed over its label sets. */
  metrics(): Promise<Map<string, number>>;
  /** Restarts the container (its store empties, registrations are forgotten) and waits until it answers. */
  restart(): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL after 2 s) and keeps the container for `logs`. */
  stop(): Promise<void>;
  logs(): Promise<string>;
  remove(): Promise<void>;
}

export async function startLmcacheServer(
  options: { l1SizeGb?: number; module?: LmcacheServerModule } = {},
): Promise<TestLmcacheServer> {
  const image = await ensureLmcacheServerImage();
  const module = options.module ?? 'server';
  const port = await freePort();
  const metricsPort = await freePort();
  const httpPort = module === 'http_server' ? metricsPort : undefined;
  const container = await docker().createContainer({
    name: `lmcache-mp-client-test-${process.pid}-${port}`,
    Image: image,
    Entrypoint: [LMCACHE_PYTHON],
    Cmd: lmcacheServerArgs({
      module,
      l1SizeGb: options.l1SizeGb ?? 1,
      maxWorkers: 4,
      port,
      httpPort,
      prometheusPort: module === 'server' ? metricsPort : undefined,
    }),
    HostConfig: { NetworkMode: 'host', IpcMode: 'host' },
  });
  await container.start();
  const endpoint = `tcp://127.0.0.1:${port}`;
  const server: TestLmcacheServer = {
    port,
    metricsPort,
    httpPort,
    endpoint,
    metrics: async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const values = new Map<string, number>();
      for (const { name, value } of parsePrometheusText(text)) values.set(name, (values.get(name) ?? 0) + value);
      return values;
    },
    restart: async () => {
      await container.restart({ t: 2 });
      await untilAnswering();
    },
    stop: async () => {
      await container.stop({ t: 2 }).catch((error: unknown) => {
        if (!isNotFound(error) && !isNotModified(error)) throw error;
      });
    },
    logs: async () => (await container.logs({ stdout: true, stderr: true, tail: 40 })).toString('utf8'),
    remove: async () => {
      await container.remove({ force: true }).catch((error: unknown) => {
        if (!isNotFound(error)) throw error;
      });
    },
  };
  // Ready when it answers the protocol's noop, as the health stage counts it.
  async function untilAnswering(): Promise<void> {
    const client = new LmcacheMpClient(endpoint, 1000);
    const deadline = Date.now() + START_TIMEOUT_MS;
    try {
      for (;;) {
        try {
          await client.noop();
          return;
        } catch (error) {
          if (Date.now() > deadline || !(await container.inspect()).State.Running) {
            const logs = await server.logs();
            await server.remove();
            throw new Error(`LMCache server did not answer noop: ${(error as Error).message}\n${logs}`);
          }
        }
      }
    } finally {
      client.close();
    }
  }
  await untilAnswering();
  return server;
}

export const TEST_MODEL = 'test/model';

/** The key of a whole token sequence; lookups pass `workerId` null, stores and retrieves a worker's id. */
export function cacheKey(tokenIds: number[], requestId: string, workerId: number | null): CacheKey {
  return {
    modelName: TEST_MODEL,
    worldSize: 1,
    workerId,
    tokenIds,
    start: 0,
    end: tokenIds.length,
    requestId,
    numKvReaders: 1,
  };
}

export const range = (from: number, count: number) => Array.from({ length: count }, (_, index) => from + index);

/** A client with a KV cache registered on `server` as `instanceId`; torn down by `close`. */
export async function connectRegistered(server: TestLmcacheServer, instanceId: number, geometry: KvGeometry) {
  const client = new LmcacheMpClient(server.endpoint);
  const kv = await SharedKvCache.create(`lmcache-test-${process.pid}-${instanceId}`, geometry);
  await client.registerKvCache({
    instanceId,
    modelName: TEST_MODEL,
    worldSize: 1,
    blockSize: geometry.blockSize,
    tensors: kv.tensors(),
  });
  return {
    client,
    kv,
    close: async () => {
      client.close();
      await kv.close();
    },
  };
}
