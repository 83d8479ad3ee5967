/**
 * A worker for one GPU node (or a sim machine), named NODE_NAME (default: the host name): registers
 * `lmcacheMpTest` and the stage activities on the shared task queue (default `lmcache-mp`, or TASK_QUEUE), where
 * runs start and claim a node, and the activities alone on the node's own queue `<queue>@<node>`, where every
 * later stage of a run that claimed this node goes. At start it releases the GPU and port leases of runs that
 * are no longer running (LEASE_DIR/<node>). Connects as the `temporal` CLI does (see ./connection.ts:
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, TEMPORAL_API_KEY, TEMPORAL_PROFILE). SIGINT and SIGTERM
 * stop it gracefully: it stops polling and lets running activities finish within the grace time.
 */
import { Connection, WorkflowClient } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { hostname } from 'node:os';
import { activities } from './activities/index.js';
import { resolveNodePath } from './node-paths.js';
import { loadConfigFromEnv } from './config/env.js';
import { nodeProfile, renderDoctor, runDoctor } from './doctor/checks.js';
import { connectionSettings, explainConnectionFailure } from './connection.js';
import { DEFAULT_TASK_QUEUE } from './constants.js';
import { isRunningIn } from './client/janitor.js';
import { reclaimLeases } from './placement/leases.js';
import { nodeSettings } from './placement/node.js';
import { nodeTaskQueue, pinnedPortsOf } from './placement/placement.js';
import { workflowBundlePath } from './workflow-bundle.js';
import { workerVersion, type WorkerVersion } from './versioning.js';

async function main(): Promise<void> {
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const settings = connectionSettings(process.env);
  const { address, tls, apiKey, metadata } = settings;
  const connection = await NativeConnection.connect({ address, tls, apiKey, metadata }).catch((error: unknown) => {
    throw explainConnectionFailure(error, settings);
  });
  const taskQueue = process.env.TASK_QUEUE || DEFAULT_TASK_QUEUE;
  const node = nodeSettings();
  const bundlePath = workflowBundlePath();
  const version = workerVersion(process.env, bundlePath);
  const common = {
    connection,
    namespace: settings.namespace,
    activities,
    // The node in the identity: each activity's start in a history names the node that ran it.
    identity: `${process.pid}@${hostname()}/node=${node.name}`,
    shutdownGraceTime: '30s',
    // Cancellation reaches an activity with a heartbeat reply: keep that under a few seconds.
    maxHeartbeatThrottleInterval: '2s',
    // Both queues in one deployment version: a pinned run's stages on the node's queue stay on its version too.
    workerDeploymentOptions: { version, useWorkerVersioning: true, defaultVersioningBehavior: 'PINNED' } as const,
  };
  await reclaimStaleLeases(node.leaseDir);
  const shared = await Worker.create({ ...common, taskQueue, workflowBundle: { codePath: bundlePath } });
  const ownQueue = nodeTaskQueue(taskQueue, node.name);
  const own = await Worker.create({ ...common, taskQueue: ownQueue });
  Runtime.instance().logger.info('worker polling', {
    taskQueue,
    nodeTaskQueue: ownQueue,
    node: node.name,
    leaseDir: node.leaseDir,
    address,
    namespace: settings.namespace,
    deployment: version.deploymentName,
    buildId: version.buildId,
  });
  // Not awaited: the checks take seconds (tool imports), and a run should not wait for them.
  void logPreflight();
  void becomeCurrent(connection, settings.namespace, version, common.identity);
  try {
    await Promise.all([shared.run(), own.run()]);
  } finally {
    await connection.close();
  }
  Runtime.instance().logger.info('worker stopped', { taskQueue, node: node.name });
}

/**
 * A deployment's first version makes itself current, so that a fresh namespace (or the dev server) needs no
 * deploy step; once one is current only scripts/deploy-worker.sh changes it, or a worker started with
 * WORKER_BECOME_CURRENT=1 (a script's own worker, whose runs must reach it whatever ran on that server before).
 * The version exists on the server only after its first poll: until then the call fails, so it is retried for a
 * minute.
 */
async function becomeCurrent(
  connection: NativeConnection,
  namespace: string,
  { deploymentName, buildId, becomeCurrent }: WorkerVersion,
  identity: string,
): Promise<void> {
  const logger = Runtime.instance().logger;
  let lastError: unknown;
  for (let attempt = 0; attempt < 60; attempt++) {
    try {
      const { workerDeploymentInfo } = await connection.workflowService.describeWorkerDeployment({
        namespace,
        deploymentName,
      });
      const current = workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId;
      if (current === buildId) return;
      if (current && becomeCurrent === 'if-first') {
        logger.info('not the current version', { deploymentName, buildId, current });
        return;
      }
      await connection.workflowService.setWorkerDeploymentCurrentVersion({
        namespace,
        deploymentName,
        buildId,
        identity,
      });
      logger.info('current version of its deployment', { deploymentName, buildId, previous: current ?? 'none' });
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  logger.warn('could not make this version current', { deploymentName, buildId, error: String(lastError) });
}

/** Leases left by runs that ended while no worker of this node ran (terminated, or cleanup never came). */
async function reclaimStaleLeases(leaseDir: string): Promise<void> {
  const settings = connectionSettings(process.env);
  const { address, tls, apiKey, metadata } = settings;
  const connection = await Connection.connect({ address, tls, apiKey, metadata }).catch((error: unknown) => {
    throw explainConnectionFailure(error, settings);
  });
  try {
    const client = new WorkflowClient({ connection, namespace: settings.namespace });
    const reclaimed = await reclaimLeases(leaseDir, isRunningIn(client));
    if (reclaimed.length > 0) Runtime.instance().logger.info('leases reclaimed', { leaseDir, workflows: reclaimed });
  } finally {
    await connection.close();
  }
}

/** The doctor's checks for this node's environment, logged so that an operator sees a broken node at once. */
async function logPreflight(): Promise<void> {
  try {
    const env = { ...process.env, PROFILE: await nodeProfile(process.env) };
    const { input, config } = loadConfigFromEnv(env, 'worker-preflight');
    const checks = await runDoctor(config, {
      resolvePath: resolveNodePath,
      node: nodeSettings(),
      pinnedPorts: pinnedPortsOf(input),
    });
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
