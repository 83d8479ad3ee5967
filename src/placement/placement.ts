/**
 * Where a run lives: the node it claimed, the two GPUs and the ports it leased there. One value, returned by the
 * lease activity and passed in every later stage's payload, so launch, health, the benchmarks, the scripts,
 * cleanup and the report all use what was leased. Pure: imported by the workflow bundle.
 */
import type { Config, ConfigInput, LmcacheServerModule } from '../config/schema.js';

/**
 * The ports a run binds: the two vLLM servers, the LMCache server, and LMCache's own HTTP port: its Prometheus
 * exporter (`server`), or its HTTP frontend (`http_server`, which serves /metrics there and starts no exporter).
 */
export type PortRole = 'vllm' | 'baseline' | 'lmcache' | 'prometheus' | 'lmcacheHttp';
export type RunPorts = Record<'vllm' | 'baseline' | 'lmcache', number> & { prometheus?: number; lmcacheHttp?: number };

export function portRolesFor(module: LmcacheServerModule): PortRole[] {
  return ['vllm', 'baseline', 'lmcache', module === 'http_server' ? 'lmcacheHttp' : 'prometheus'];
}

export interface LeasedGpus {
  withLmcache: number;
  baseline: number;
  /** `--gpu-memory-utilization` for both vLLM servers when the GPUs are large (gpu profile only). */
  gpuMemoryUtilization?: number;
}

export interface RunPlacement {
  node: string;
  gpus?: LeasedGpus;
  ports: RunPorts;
}

/** LMCache's own default Prometheus port: the port a run binds when nothing leased one (runs before leases). */
export const LMCACHE_DEFAULT_PROMETHEUS_PORT = 9090;

/** The task queue only `node`'s worker polls, beside the shared one. */
export function nodeTaskQueue(sharedQueue: string, node: string): string {
  return `${sharedQueue}@${node}`;
}

/**
 * Ports the caller pinned (VLLM_PORT, VLLM_BASELINE_PORT, LMCACHE_PORT, LMCACHE_HTTP_PORT); the lease takes the
 * rest from the range.
 */
export function pinnedPortsOf(input: ConfigInput | undefined): Partial<RunPorts> {
  const pinned: Partial<RunPorts> = {};
  if (input?.vllmPort !== undefined) pinned.vllm = input.vllmPort;
  if (input?.vllmBaselinePort !== undefined) pinned.baseline = input.vllmBaselinePort;
  if (input?.lmcachePort !== undefined) pinned.lmcache = input.lmcachePort;
  if (input?.lmcacheHttpPort !== undefined) pinned.lmcacheHttp = input.lmcacheHttpPort;
  return pinned;
}

/** A placement that leased nothing: the configured ports, for runs whose servers another run launched. */
export function placementFromConfig(config: Config, node: string, gpus?: LeasedGpus): RunPlacement {
  return {
    node,
    gpus,
    ports: {
      vllm: config.vllmPort,
      baseline: config.vllmBaselinePort,
      lmcache: config.lmcachePort,
      ...(config.lmcacheServerModule === 'http_server'
        ? { lmcacheHttp: config.lmcacheHttpPort }
        : { prometheus: LMCACHE_DEFAULT_PROMETHEUS_PORT }),
    },
  };
}

/** What a stage on the node receives: the run's configuration, its id and where it lives. */
export interface PlacedStageInput {
  config: Config;
  workflowId: string;
  /** Absent only in runs recorded before placements: the configured ports then. */
  placement?: RunPlacement;
}

/** The configuration as an activity on the node uses it: the leased ports in place of the configured ones. */
export function placedConfig(config: Config, placement: RunPlacement | undefined): Config {
  if (!placement) return config;
  const { ports } = placement;
  return {
    ...config,
    vllmPort: ports.vllm,
    vllmBaselinePort: ports.baseline,
    lmcachePort: ports.lmcache,
    lmcacheHttpPort: ports.lmcacheHttp ?? config.lmcacheHttpPort,
  };
}

/** Where the run's LMCache server serves /metrics: its HTTP frontend, or the Prometheus exporter launch gave it. */
export function lmcacheMetricsPort(config: Config, placement: RunPlacement | undefined): number {
  return config.lmcacheServerModule === 'http_server'
    ? placedConfig(config, placement).lmcacheHttpPort
    : (placement?.ports.prometheus ?? LMCACHE_DEFAULT_PROMETHEUS_PORT);
}
