/**
 * The sim vLLM server's command line: the same argv as `vllm serve` in the real suite, so the launch stage builds
 * one argv for both profiles. Anything else is refused: a flag the sim silently ignored would hide a launch bug.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_GPU_MEMORY_UTILIZATION } from './cost-model.js';
import { UsageError } from './usage-error.js';

export const VLLM_USAGE = `usage: vllm-server.js MODEL [--kv-transfer-config JSON] [--attention-backend NAME] [--port P]
                      [--host H] [--gpu-memory-utilization F] [--no-async-scheduling]`;

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_VLLM_PORT = 8000;
/** LMCache's own default for `lmcache.mp.port`. */
const DEFAULT_LMCACHE_MP_PORT = 5555;

export interface VllmArgs {
  model: string;
  host: string;
  port: number;
  gpuMemoryUtilization: number;
  attentionBackend: string | null;
  asyncScheduling: boolean;
  /** The LMCache server's port when --kv-transfer-config names LMCacheMPConnector; null for a baseline server. */
  lmcachePort: number | null;
}

function parse(
  argv: string[],
  options: ParseArgsConfig['options'],
  usage: string,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${usage}`);
  }
}

/** Port 0 asks the OS for a free port (handy for tests); the startup log line names the one it got. */
function portValue(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${flag} must be an integer port between 0 and 65535, got ${JSON.stringify(text)}`);
  }
  return port;
}

function positiveNumber(flag: string, text: string | undefined, max = Infinity): number {
  const value = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new UsageError(
      `${flag} must be a number > 0${max < Infinity ? ` and <= ${max}` : ''}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** Reads the LMCache port out of --kv-transfer-config; only the connector the suite uses is simulated. */
function lmcachePortFrom(json: string): number {
  let config: unknown;
  try {
    config = JSON.parse(json);
  } catch (error) {
    throw new UsageError(`--kv-transfer-config is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new UsageError('--kv-transfer-config must be a JSON object');
  }
  const {
    kv_connector: connector,
    kv_role: role,
    kv_connector_extra_config: extra,
  } = config as Record<string, unknown>;
  if (connector !== 'LMCacheMPConnector') {
    throw new UsageError(
      `--kv-transfer-config: kv_connector ${JSON.stringify(connector)} is not simulated; use "LMCacheMPConnector"`,
    );
  }
  if (role !== undefined && role !== 'kv_both') {
    throw new UsageError(`--kv-transfer-config: kv_role ${JSON.stringify(role)} is not simulated; use "kv_both"`);
  }
  if (extra !== undefined && (typeof extra !== 'object' || extra === null || Array.isArray(extra))) {
    throw new UsageError('--kv-transfer-config: kv_connector_extra_config must be a JSON object');
  }
  const port = (extra as Record<string, unknown> | undefined)?.['lmcache.mp.port'] ?? DEFAULT_LMCACHE_MP_PORT;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`--kv-transfer-config: lmcache.mp.port must be an integer port, got ${JSON.stringify(port)}`);
  }
  return port;
}

export function parseVllmArgs(argv: string[]): VllmArgs {
  const { values, positionals } = parse(
    argv,
    {
      'kv-transfer-config': { type: 'string' },
      'attention-backend': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'gpu-memory-utilization': { type: 'string' },
      'no-async-scheduling': { type: 'boolean' },
    },
    VLLM_USAGE,
  );
  if (positionals.length !== 1) {
    throw new UsageError(
      `expected exactly one MODEL argument, got ${positionals.length}: ${positionals.join(' ')}\n${VLLM_USAGE}`,
    );
  }
  const str = (name: string) => values[name] as string | undefined;
  const utilization = str('gpu-memory-utilization');
  return {
    model: positionals[0],
    host: str('host') ?? DEFAULT_HOST,
    port: portValue('--port', str('port'), DEFAULT_VLLM_PORT),
    gpuMemoryUtilization:
      utilization === undefined
        ? DEFAULT_GPU_MEMORY_UTILIZATION
        : positiveNumber('--gpu-memory-utilization', utilization, 1),
    attentionBackend: str('attention-backend') ?? null,
    asyncScheduling: values['no-async-scheduling'] !== true,
    lmcachePort: str('kv-transfer-config') === undefined ? null : lmcachePortFrom(str('kv-transfer-config')!),
  };
}
