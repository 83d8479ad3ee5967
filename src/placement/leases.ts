/**
 * Leases of GPUs and ports on one node, as files in the node's lease directory: `gpu-<index>` and `port-<n>`,
 * each naming the workflow that holds it. A file is made by hard-linking a fully written temporary file to its
 * name, which fails atomically when the name exists, so two runs claiming at the same moment (in two worker
 * processes) can never both get a resource, and a reader never sees a half-written owner. A run's whole
 * The choice itself (read the leases, pick, create) runs under a node-wide claim lock, so that runs claiming
 * together take turns instead of each grabbing part of the same GPUs and backing off forever. A lock left by a
 * process that died while holding it is broken after CLAIM_LOCK_STALE_MS. The whole
 * placement is kept beside them (`run-<id>.json`), so a retried or restarted lease returns the same one, and
 * the files stay on disk across worker restarts until cleanup, the janitor or a worker start releases them.
 */
import { link, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { containerSuffix } from '../commands/containers.js';
import { type LeasedGpus, type PortRole, type RunPlacement, type RunPorts } from './placement.js';

export interface LeaseOwner {
  workflowId: string;
  node: string;
  /** Epoch milliseconds when the lease was taken. */
  at: number;
}

export interface LeaseRequest {
  workflowId: string;
  node: string;
  /** GPU indices that qualify by the reference rule, best first; the first two not leased are taken. */
  gpuPreference: number[];
  /** `--gpu-memory-utilization` for the run whose LMCache GPU is the given one (upstream reads that GPU's total). */
  gpuMemoryUtilizationOf?: (lmcacheGpu: number) => number | undefined;
  pinnedPorts: Partial<RunPorts>;
  /** The ports to lease (portRolesFor the run's LMCache server module). */
  portRoles: PortRole[];
  portRange: { first: number; last: number };
  /** Whether nothing outside the leases holds the port (some other program may listen in the range). */
  portFree: (port: number) => Promise<boolean>;
}

/** What a run still waits for when it cannot lease now. */
export type LeaseAttempt = { placement: RunPlacement } | { waitingFor: string };

const RUN_RECORD = /^run-(.+)\.json$/;
const CLAIM_LOCK = '.claim-lock';
/** Far longer than a claim takes (a few file operations and port probes). */
const CLAIM_LOCK_STALE_MS = 10_000;
const resourceFile = (kind: 'gpu' | 'port', id: number) => `${kind}-${id}`;
const runRecord = (workflowId: string) => `run-${containerSuffix(workflowId)}.json`;

/** Every resource file and its owner. */
export async function readLeases(dir: string): Promise<Map<string, LeaseOwner>> {
  const owners = new Map<string, LeaseOwner>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return owners;
    throw error;
  }
  for (const name of names.filter((n) => /^(gpu|port)-\d+$/.test(n) || RUN_RECORD.test(n))) {
    try {
      const text = await readFile(path.join(dir, name), 'utf8');
      const owner = RUN_RECORD.test(name) ? (JSON.parse(text) as { owner: LeaseOwner }).owner : JSON.parse(text);
      owners.set(name, owner as LeaseOwner);
    } catch (error) {
      // Released between the listing and the read.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return owners;
}

async function ownerOf(dir: string, name: string): Promise<LeaseOwner | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, name), 'utf8')) as LeaseOwner;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The placement a run already holds on this node, if any. */
export async function heldPlacement(dir: string, workflowId: string): Promise<RunPlacement | undefined> {
  try {
    return (JSON.parse(await readFile(path.join(dir, runRecord(workflowId)), 'utf8')) as { placement: RunPlacement })
      .placement;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes `text` under `name` only if no such file exists: false when another holds it. */
async function createExclusive(dir: string, name: string, text: string): Promise<boolean> {
  const temporary = path.join(dir, `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  await writeFile(temporary, text);
  try {
    await link(temporary, path.join(dir, name));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(temporary, { force: true });
  }
}

type PortRequest = Pick<LeaseRequest, 'pinnedPorts' | 'portRoles' | 'portRange' | 'portFree'>;

/** The ports a run would lease here now, leasing nothing (the doctor names them); undefined when there is no room. */
export async function previewPorts(dir: string, request: PortRequest): Promise<RunPorts | undefined> {
  const owners = await readLeases(dir);
  return choosePorts(request, (name) => owners.has(name));
}

async function choosePorts(request: PortRequest, taken: (name: string) => boolean): Promise<RunPorts | undefined> {
  const ports: Partial<RunPorts> = {};
  const used = new Set<number>();
  for (const role of request.portRoles) {
    const pinned = request.pinnedPorts[role];
    if (pinned === undefined) continue;
    if (taken(resourceFile('port', pinned))) return undefined;
    ports[role] = pinned;
    used.add(pinned);
  }
  let candidate = request.portRange.first;
  for (const role of request.portRoles.filter((r) => ports[r] === undefined)) {
    while (
      candidate <= request.portRange.last &&
      (used.has(candidate) || taken(resourceFile('port', candidate)) || !(await request.portFree(candidate)))
    ) {
      candidate++;
    }
    if (candidate > request.portRange.last) return undefined;
    ports[role] = candidate;
    used.add(candidate++);
  }
  return ports as RunPorts;
}

async function withClaimLock<T>(dir: string, claim: () => Promise<T>): Promise<T> {
  const token = JSON.stringify({ pid: process.pid, at: Date.now(), nonce: Math.random() });
  while (!(await createExclusive(dir, CLAIM_LOCK, token))) {
    const holder = await ownerOf(dir, CLAIM_LOCK).catch(() => undefined);
    if (holder && Date.now() - holder.at > CLAIM_LOCK_STALE_MS) {
      await rm(path.join(dir, CLAIM_LOCK), { force: true });
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
  }
  try {
    return await claim();
  } finally {
    // Only our own lock: a stale-lock breaker may have replaced it.
    if ((await readFile(path.join(dir, CLAIM_LOCK), 'utf8').catch(() => '')) === token) {
      await rm(path.join(dir, CLAIM_LOCK), { force: true });
    }
  }
}

/**
 * One try at leasing two GPUs and the ports. Returns the placement, or what is missing. A run that already holds
 * a placement here gets it back (a retried attempt, or a worker restarted on the node).
 */
export async function tryLease(dir: string, request: LeaseRequest): Promise<LeaseAttempt> {
  await mkdir(dir, { recursive: true });
  return withClaimLock(dir, () => leaseLocked(dir, request));
}

async function leaseLocked(dir: string, request: LeaseRequest): Promise<LeaseAttempt> {
  const held = await heldPlacement(dir, request.workflowId);
  if (held) return { placement: held };
  // A lost race is retried at once with what is left: the winner's files are then in the listing.
  for (let race = 0; race < 5; race++) {
    const owners = await readLeases(dir);
    const taken = (name: string) => {
      const owner = owners.get(name);
      return owner !== undefined && owner.workflowId !== request.workflowId;
    };
    const gpus = request.gpuPreference.filter((index) => !taken(resourceFile('gpu', index))).slice(0, 2);
    if (gpus.length < 2) {
      const leased = [...owners].filter(([name]) => name.startsWith('gpu-')).length;
      return { waitingFor: `2 GPUs: ${request.gpuPreference.length} qualify by the rule, ${leased} leased` };
    }
    const ports = await choosePorts(request, taken);
    if (!ports) return { waitingFor: `ports ${describePorts(request)} (all leased or in use)` };
    const owner: LeaseOwner = { workflowId: request.workflowId, node: request.node, at: Date.now() };
    const names = [
      ...gpus.map((g) => resourceFile('gpu', g)),
      ...Object.values(ports).map((p) => resourceFile('port', p)),
    ];
    const created: string[] = [];
    let lost = false;
    for (const name of names) {
      if (await createExclusive(dir, name, JSON.stringify(owner))) created.push(name);
      else if ((await ownerOf(dir, name))?.workflowId !== request.workflowId) {
        lost = true;
        break;
      }
    }
    if (lost) {
      await Promise.all(created.map((name) => rm(path.join(dir, name), { force: true })));
      continue;
    }
    const leasedGpus: LeasedGpus = { withLmcache: gpus[0]!, baseline: gpus[1]! };
    const gpuMemoryUtilization = request.gpuMemoryUtilizationOf?.(leasedGpus.withLmcache);
    if (gpuMemoryUtilization !== undefined) leasedGpus.gpuMemoryUtilization = gpuMemoryUtilization;
    const placement: RunPlacement = { node: request.node, gpus: leasedGpus, ports };
    const record = path.join(dir, runRecord(request.workflowId));
    await writeFile(`${record}.tmp`, JSON.stringify({ owner, placement }));
    await rename(`${record}.tmp`, record);
    return { placement };
  }
  return { waitingFor: 'other runs leasing at the same moment' };
}

export function describePorts(request: Pick<LeaseRequest, 'pinnedPorts' | 'portRange'>): string {
  const pinned = Object.values(request.pinnedPorts);
  const range = `${request.portRange.first}-${request.portRange.last}`;
  return pinned.length > 0 ? `${pinned.join(', ')} (pinned) and the range ${range}` : `in the range ${range}`;
}

/** Releases every lease `workflowId` holds in `dir`; returns the released files' names. */
export async function releaseLeases(dir: string, workflowId: string): Promise<string[]> {
  const owned = [...(await readLeases(dir))].filter(([, owner]) => owner.workflowId === workflowId).map(([n]) => n);
  // The run record last: while it exists, a retried lease would hand the placement back.
  const ordered = [...owned.filter((n) => !RUN_RECORD.test(n)), ...owned.filter((n) => RUN_RECORD.test(n))];
  for (const name of ordered) await rm(path.join(dir, name), { force: true });
  return ordered;
}

/** The workflow ids holding leases in `dir`. */
export async function leaseHolders(dir: string): Promise<string[]> {
  return [...new Set([...(await readLeases(dir)).values()].map((owner) => owner.workflowId))];
}

/**
 * Releases the leases of runs that are no longer running (`isRunning` asks Temporal). For the janitor and for a
 * worker starting on the node; returns the workflow ids whose leases went.
 */
export async function reclaimLeases(
  dir: string,
  isRunning: (workflowId: string) => Promise<boolean>,
): Promise<string[]> {
  const reclaimed: string[] = [];
  for (const workflowId of await leaseHolders(dir)) {
    if (await isRunning(workflowId)) continue;
    await releaseLeases(dir, workflowId);
    reclaimed.push(workflowId);
  }
  return reclaimed;
}
