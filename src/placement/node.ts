/**
 * The worker node's own settings, read from its environment (never from a workflow input): its name, where it
 * keeps its leases, the ports runs may lease there, and in the sim profile how many virtual GPUs it has.
 */
import { hostname } from 'node:os';
import path from 'node:path';

export const DEFAULT_LEASE_DIR = '/tmp/lmcache-mp-leases';
export const DEFAULT_PORT_RANGE = '20000-20999';
export const DEFAULT_SIM_GPUS = 8;

export interface NodeSettings {
  name: string;
  /** This node's lease directory: LEASE_DIR/<node>. */
  leaseDir: string;
  portRange: { first: number; last: number };
  simGpus: number;
}

const NODE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function portRange(text: string): { first: number; last: number } {
  const match = /^(\d+)-(\d+)$/.exec(text.trim());
  const [first, last] = match ? [Number(match[1]), Number(match[2])] : [NaN, NaN];
  if (!(first >= 1 && last <= 65535 && last - first >= 3)) {
    throw new Error(
      `PORT_RANGE must be "FIRST-LAST" with room for 4 ports within 1-65535, got ${JSON.stringify(text)}`,
    );
  }
  return { first, last };
}

export function nodeSettings(env: NodeJS.ProcessEnv = process.env): NodeSettings {
  const name = env.NODE_NAME || hostname();
  if (!NODE_NAME_PATTERN.test(name)) {
    throw new Error(`NODE_NAME may hold only letters, digits, ".", "_" and "-", got ${JSON.stringify(name)}`);
  }
  const simGpus = Number(env.SIM_GPUS || DEFAULT_SIM_GPUS);
  if (!Number.isInteger(simGpus) || simGpus < 0) {
    throw new Error(`SIM_GPUS must be a whole number, got ${JSON.stringify(env.SIM_GPUS)}`);
  }
  return {
    name,
    leaseDir: path.join(env.LEASE_DIR || DEFAULT_LEASE_DIR, name),
    portRange: portRange(env.PORT_RANGE || DEFAULT_PORT_RANGE),
    simGpus,
  };
}
