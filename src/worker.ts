/**
 * A worker for one GPU node (or a sim machine): registers `lmcacheMpTest` and the stage activities on the
 * task queue (default `lmcache-mp`, or TASK_QUEUE). Connects as the `temporal` CLI does (see ./connection.ts:
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, TEMPORAL_API_KEY, TEMPORAL_PROFILE). SIGINT and SIGTERM
 * stop it gracefully: it stops polling and lets running activities finish within the grace time.
 */
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { activities } from './activities/index.js';
import { resolveNodePath } from './node-paths.js';
import { loadConfigFromEnv } from './config/env.js';
import { nodeProfile, renderDoctor, runDoctor } from './doctor/checks.js';
import { connectionSettings } from './connection.js';
import { DEFAULT_TASK_QUEUE } from './constants.js';

const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/index.js', import.meta.url));

async function main(): Promise<void> {
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const settings = connectionSettings(process.env);
  const { address, tls, apiKey, metadata } = settings;
  const connection = await NativeConnection.connect({ address, tls, apiKey, metadata });
  const taskQueue = process.env.TASK_QUEUE || DEFAULT_TASK_QUEUE;
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities,
    shutdownGraceTime: '30s',
    // Cancellation reaches an activity with a heartbeat reply: keep that under a few seconds.
    maxHeartbeatThrottleInterval: '2s',
  });
  Runtime.instance().logger.info('worker polling', { taskQueue, address, namespace: settings.namespace });
  // Not awaited: the checks take seconds (tool imports), and a run should not wait for them.
  void logPreflight();
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
  Runtime.instance().logger.info('worker stopped', { taskQueue });
}

/** The doctor's checks for this node's environment, logged so that an operator sees a broken node at once. */
async function logPreflight(): Promise<void> {
  try {
    const env = { ...process.env, PROFILE: await nodeProfile(process.env) };
    const { config } = loadConfigFromEnv(env, 'worker-preflight');
    const checks = await runDoctor(config, { resolvePath: resolveNodePath });
    const failed = checks.filter((check) => !check.ok).map((check) => check.name);
    const logger = Runtime.instance().logger;
    const summary = `preflight (PROFILE=${config.profile}): ${failed.length === 0 ? 'all checks passed' : `${failed.length} check(s) failed`}`;
    (failed.length === 0 ? logger.info : logger.warn).call(logger, `${summary}\n${renderDoctor(checks)}`, {
      profile: config.profile,
      failed,
    });
  } catch (error) {
    Runtime.instance().logger.warn('preflight could not run', { error: (error as Error).message });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
