/**
 * The worker's Worker Deployment version: WORKER_DEPLOYMENT_NAME (default lmcache-mp) and WORKER_BUILD_ID
 * (default: the build id `npm run build` recorded beside the workflow bundle, the project's git commit with
 * `-dirty` for an unclean tree). Runs are pinned: a run finishes on the version it started on, so a worker
 * upgrade never replays an old run's history on new workflow code (scripts/deploy-worker.sh).
 */
import { existsSync, readFileSync } from 'node:fs';
import { execa } from 'execa';

export const DEFAULT_DEPLOYMENT_NAME = 'lmcache-mp';

export interface WorkerVersion {
  deploymentName: string;
  buildId: string;
  /** WORKER_BECOME_CURRENT: 1 makes the worker's version current at start; unset or 0 only a deployment's first. */
  becomeCurrent: 'always' | 'if-first';
}

// The server joins them as `<deployment>.<build id>` in older APIs: no dots in the name.
const DEPLOYMENT_NAME = /^[A-Za-z0-9_-]{1,200}$/;
const BUILD_ID = /^[A-Za-z0-9._+-]{1,255}$/;

/** Where a bundle's build id is kept: beside the bundle, so a copied bundle carries its own. */
export function buildIdFileOf(bundlePath: string): string {
  return `${bundlePath}.build-id`;
}

/** The checkout's commit, `-dirty` when tracked or untracked files differ from it; none outside a checkout. */
export async function gitBuildId(cwd: string): Promise<string | undefined> {
  const head = await execa('git', ['rev-parse', '--short=12', 'HEAD'], { cwd, reject: false });
  if (head.exitCode !== 0) return undefined;
  const status = await execa('git', ['status', '--porcelain'], { cwd });
  return status.stdout.trim() === '' ? head.stdout.trim() : `${head.stdout.trim()}-dirty`;
}

export function workerVersion(env: NodeJS.ProcessEnv, bundlePath: string): WorkerVersion {
  const deploymentName = env.WORKER_DEPLOYMENT_NAME || DEFAULT_DEPLOYMENT_NAME;
  if (!DEPLOYMENT_NAME.test(deploymentName)) {
    throw new Error(
      `WORKER_DEPLOYMENT_NAME may hold only letters, digits, "_" and "-" (at most 200), got ${JSON.stringify(deploymentName)}`,
    );
  }
  const file = buildIdFileOf(bundlePath);
  const buildId = env.WORKER_BUILD_ID || (existsSync(file) ? readFileSync(file, 'utf8').trim() : '');
  if (buildId === '') {
    throw new Error(`no WORKER_BUILD_ID and no ${file} (npm run build writes it): set WORKER_BUILD_ID`);
  }
  if (!BUILD_ID.test(buildId)) {
    throw new Error(
      `WORKER_BUILD_ID may hold only letters, digits, ".", "_", "+" and "-" (at most 255), got ${JSON.stringify(buildId)}`,
    );
  }
  const become = env.WORKER_BECOME_CURRENT || '0';
  if (become !== '0' && become !== '1') {
    throw new Error(`WORKER_BECOME_CURRENT must be 0 or 1, got ${JSON.stringify(env.WORKER_BECOME_CURRENT)}`);
  }
  return { deploymentName, buildId, becomeCurrent: become === '1' ? 'always' : 'if-first' };
}
