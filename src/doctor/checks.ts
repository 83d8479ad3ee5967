/**
 * The preflight of a worker node ("doctor"): everything a run with this configuration will need, checked
 * before it costs GPU time. Each check says ok, or what is wrong and the command that fixes it. The CLI
 * (`cli.js doctor`, scripts/doctor.sh) prints them; the worker logs them at start.
 */
import Docker from 'dockerode';
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LONG_DOC_QA_SCRIPT, NVIDIA_SMI, usesUpstreamLongDocQa } from '../commands/tools.js';
import { checkoutFilesNeeded } from '../config/input-files.js';
import type { Config } from '../config/schema.js';
import { describePorts, previewPorts } from '../placement/leases.js';
import type { NodeSettings } from '../placement/node.js';
import { portRolesFor, type RunPorts } from '../placement/placement.js';
import { portFree, portListenError } from '../placement/port-free.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found, or what is wrong. */
  detail: string;
  /** The command (or step) that fixes it, when it failed. */
  fix?: string;
}

export interface DoctorOptions {
  /** The engine to ask; defaults to dockerode's (DOCKER_HOST or the local socket). */
  docker?: Docker;
  /** Resolves a path knob on this node (relative to the project, `~` for home). */
  resolvePath: (value: string) => string;
  /** Free space the Docker data root needs, in GiB; defaults per profile. */
  minFreeDockerGib?: number;
  /** This node's name, lease directory and PORT_RANGE: where a run's unpinned ports come from. */
  node: Pick<NodeSettings, 'name' | 'leaseDir' | 'portRange'>;
  /** The ports the environment pins (VLLM_PORT, VLLM_BASELINE_PORT, LMCACHE_PORT); the rest are leased. */
  pinnedPorts: Partial<RunPorts>;
}

/**
 * The LMCache image with CUDA and vLLM is tens of GB, and its build keeps a cache. The sim image is small, but the
 * real LMCache server's image beside it is 3.8 GB, staged first (on this disk, in the temporary directory).
 */
const MIN_FREE_DOCKER_GIB = { gpu: 60, sim: 10 } as const;
/** Results: lm_eval samples, logs and reports. */
const MIN_FREE_RESULTS_GIB = 1;
/** BuildKit builds through the API need engine API 1.39 (Docker 18.09) on Linux. */
const BUILDKIT_MIN_API = [1, 39] as const;

const SETUP = (config: Config) =>
  `PROFILE=${config.profile} BENCHMARK_DRIVER=${config.benchmarkDriver} scripts/setup.sh`;

export async function runDoctor(config: Config, options: DoctorOptions): Promise<DoctorCheck[]> {
  const docker = options.docker ?? new Docker();
  const venvBin = path.join(options.resolvePath(config.venvDir), 'bin');
  const checks: DoctorCheck[] = [];
  const engine = await dockerChecks(docker, config, options);
  checks.push(...engine);
  if (config.profile === 'gpu') checks.push(await nvidiaSmiCheck());
  if (config.profile === 'sim') checks.push(await lmcacheImagePythonCheck());
  checks.push(...(await toolChecks(config, venvBin, options)));
  checks.push(repositoryCheck(config, options));
  checks.push(await hfCacheCheck(options.resolvePath(config.hfCacheDir)));
  checks.push(...(await portChecks(config, options)));
  checks.push(await diskCheck('disk.results', nearestExisting(config.resultsDir), MIN_FREE_RESULTS_GIB));
  return checks;
}

async function dockerChecks(docker: Docker, config: Config, options: DoctorOptions): Promise<DoctorCheck[]> {
  let version: Docker.DockerVersion;
  let info: { Runtimes?: Record<string, unknown>; DockerRootDir?: string };
  try {
    [version, info] = await Promise.all([docker.version(), docker.info()]);
  } catch (error) {
    return [
      {
        name: 'docker',
        ok: false,
        detail: `no Docker engine answers (${(error as Error).message})`,
        fix: "start dockerd (as root: `dockerd &`, or install Debian's docker.io), or set DOCKER_HOST",
      },
    ];
  }
  const checks: DoctorCheck[] = [
    { name: 'docker', ok: true, detail: `Docker ${version.Version} answers (API ${version.ApiVersion})` },
  ];
  const [major, minor] = version.ApiVersion.split('.').map(Number);
  const apiOk = major > BUILDKIT_MIN_API[0] || (major === BUILDKIT_MIN_API[0] && minor >= BUILDKIT_MIN_API[1]);
  checks.push(
    apiOk && version.Os === 'linux'
      ? { name: 'docker.buildkit', ok: true, detail: `BuildKit available (${version.Os}, API ${version.ApiVersion})` }
      : {
          name: 'docker.buildkit',
          ok: false,
          detail: `the engine (${version.Os}, API ${version.ApiVersion}) has no BuildKit, which LMCache's Dockerfile needs for RUN --mount`,
          fix: 'use a Linux Docker Engine 18.09 or newer',
        },
  );
  if (config.profile === 'gpu') {
    const runtimes = Object.keys(info.Runtimes ?? {});
    checks.push(
      runtimes.includes('nvidia')
        ? { name: 'docker.nvidia-runtime', ok: true, detail: 'the nvidia runtime is registered' }
        : {
            name: 'docker.nvidia-runtime',
            ok: false,
            detail: `the engine has no nvidia runtime (runtimes: ${runtimes.join(', ') || 'none'})`,
            fix: 'install nvidia-container-toolkit, run `nvidia-ctk runtime configure --runtime=docker`, restart dockerd',
          },
    );
  }
  const minimum = options.minFreeDockerGib ?? MIN_FREE_DOCKER_GIB[config.profile];
  if (info.DockerRootDir) checks.push(await diskCheck('disk.docker', info.DockerRootDir, minimum));
  return checks;
}

async function nvidiaSmiCheck(): Promise<DoctorCheck> {
  const name = 'gpu.nvidia-smi';
  const listed = await execa(NVIDIA_SMI, ['-L'], { reject: false });
  const gpus = String(listed.stdout ?? '')
    .split('\n')
    .filter((line) => line.startsWith('GPU ')).length;
  if (listed.exitCode === 0 && gpus >= 2) return { name, ok: true, detail: `nvidia-smi lists ${gpus} GPUs` };
  const why =
    listed.failed && gpus === 0
      ? `nvidia-smi failed: ${lastLine(String(listed.stderr || listed.stdout || listed.message))}`
      : `nvidia-smi lists ${gpus} GPU(s); a run needs 2`;
  return {
    name,
    ok: false,
    detail: why,
    fix: 'install the NVIDIA driver (nvidia-smi -L must list the GPUs), or use PROFILE=sim',
  };
}

/** The tools a run will start, and the Python modules their upstream scripts import. */
async function toolChecks(config: Config, venvBin: string, options: DoctorOptions): Promise<DoctorCheck[]> {
  const fix = SETUP(config);
  const checks: DoctorCheck[] = [];
  const python = path.join(venvBin, 'python');
  if (!existsSync(python)) {
    return [
      {
        name: 'tools.venv',
        ok: false,
        detail: `no Python virtual environment at ${path.dirname(venvBin)} (VENV_DIR=${config.venvDir})`,
        fix,
      },
    ];
  }
  const runs = async (name: string, file: string, args: string[]) => {
    const result = await execa(file, args, { reject: false, env: { HF_HUB_OFFLINE: '1' } });
    checks.push(
      result.exitCode === 0
        ? { name, ok: true, detail: `${path.basename(file)} ${args.join(' ')} runs` }
        : {
            name,
            ok: false,
            detail: `${file} ${args.join(' ')} failed: ${lastLine(String(result.stderr || result.message))}`,
            fix,
          },
    );
  };
  if (config.stages.includes('lm_eval')) await runs('tools.lm_eval', path.join(venvBin, 'lm_eval'), ['--help']);
  if (config.stages.includes('vllm_bench') && config.benchmarkDriver === 'upstream') {
    await runs('tools.vllm', path.join(venvBin, 'vllm'), ['bench', 'serve', '--help']);
  }
  const modules = new Set(['openai']);
  if (config.profile === 'gpu') ['pandas', 'transformers'].forEach((module) => modules.add(module));
  const script = path.join(options.resolvePath(config.lmcacheRepoDir), LONG_DOC_QA_SCRIPT);
  if (usesUpstreamLongDocQa(config) && existsSync(script))
    importedModules(readFileSync(script, 'utf8')).forEach((m) => modules.add(m));
  const missing = await missingModules(python, [...modules]);
  for (const module of [...modules].sort()) {
    const error = missing[module];
    checks.push(
      error === undefined
        ? { name: `tools.python.${module}`, ok: true, detail: `${module} imports` }
        : {
            name: `tools.python.${module}`,
            ok: false,
            detail: `${module} does not import in ${path.dirname(venvBin)}: ${error}`,
            fix,
          },
    );
  }
  return checks;
}

/** Top-level modules a Python script imports (`import a.b`, `from a import b`), relative imports left out. */
export function importedModules(source: string): string[] {
  const modules = new Set<string>();
  for (const line of source.split('\n')) {
    const match = /^\s*(?:import\s+([\w., ]+)|from\s+(\w[\w.]*)\s+import\b)/.exec(line);
    if (!match) continue;
    for (const name of (match[1] ?? match[2]).split(',')) {
      const top = name.trim().split(/\s+/)[0].split('.')[0];
      if (top) modules.add(top);
    }
  }
  return [...modules];
}

/** Module -> error, for each module the venv's Python cannot import (standard library ones import anyway). */
async function missingModules(python: string, modules: string[]): Promise<Record<string, string>> {
  const probe = [
    'import importlib, json, sys',
    'failed = {}',
    'for name in sys.argv[1:]:',
    '    try: importlib.import_module(name)',
    '    except Exception as error: failed[name] = f"{type(error).__name__}: {error}"',
    'print(json.dumps(failed))',
  ].join('\n');
  const result = await execa(python, ['-c', probe, ...modules], { reject: false, env: { HF_HUB_OFFLINE: '1' } });
  if (result.exitCode !== 0)
    return Object.fromEntries(modules.map((m) => [m, lastLine(String(result.stderr || result.message))]));
  return JSON.parse(String(result.stdout).trim().split('\n').pop() ?? '{}') as Record<string, string>;
}

function repositoryCheck(config: Config, options: DoctorOptions): DoctorCheck {
  const repo = options.resolvePath(config.lmcacheRepoDir);
  const needed = config.profile === 'gpu' ? checkoutFilesNeeded(config) : [config.dockerfile];
  const missing = needed.filter((file) => !existsSync(path.join(repo, file)));
  return missing.length === 0
    ? { name: 'repository', ok: true, detail: `${repo} holds ${needed.join(' and ')}` }
    : {
        name: 'repository',
        ok: false,
        detail: `${repo} (LMCACHE_REPO_DIR) has no ${missing.join(', ')}`,
        fix: 'set LMCACHE_REPO_DIR to an LMCache checkout (git clone of LMCache), and DOCKERFILE if it moved',
      };
}

async function hfCacheCheck(directory: string): Promise<DoctorCheck> {
  const name = 'hf-cache';
  const probe = path.join(directory, `.lmcache-mp-doctor-${process.pid}`);
  try {
    await mkdir(directory, { recursive: true });
    await writeFile(probe, 'ok');
    await rm(probe);
    return { name, ok: true, detail: `${directory} is writable` };
  } catch (error) {
    return {
      name,
      ok: false,
      detail: `${directory} is not writable: ${(error as Error).message}`,
      fix: `set HF_CACHE_DIR to a writable directory, or fix the permissions of ${directory}`,
    };
  }
}

/**
 * The ports a run started now would use: the pinned ones must be free, the rest come from the node's PORT_RANGE,
 * skipping leased ports and ports something listens on, as the lease does.
 */
async function portChecks(config: Config, options: DoctorOptions): Promise<DoctorCheck[]> {
  const { node, pinnedPorts } = options;
  const checks = await Promise.all(Object.values(pinnedPorts).map(pinnedPortCheck));
  const portRoles = portRolesFor(config.lmcacheServerModule);
  const request = { pinnedPorts, portRoles, portRange: node.portRange, portFree };
  const ports = await previewPorts(node.leaseDir, request);
  checks.push(
    ports
      ? {
          name: 'ports',
          ok: true,
          detail: `a run started now on ${node.name} would use ${portRoles.map((role) => `${role} ${ports[role]}${pinnedPorts[role] === undefined ? '' : ' (pinned)'}`).join(', ')}`,
        }
      : {
          name: 'ports',
          ok: false,
          detail: `no room on ${node.name} for a run's ${portRoles.length} ports: ${describePorts(request)} are leased or in use`,
          fix: 'end the runs that hold leases (scripts/janitor.sh for runs no longer running), widen PORT_RANGE, or unpin VLLM_PORT, VLLM_BASELINE_PORT, LMCACHE_PORT and LMCACHE_HTTP_PORT',
        },
  );
  return checks;
}

/** The servers run with host networking: a pinned port is usable when nothing on this node listens on it. */
async function pinnedPortCheck(port: number): Promise<DoctorCheck> {
  const name = `port.${port}`;
  const error = await portListenError(port);
  if (!error) return { name, ok: true, detail: `pinned port ${port} is free` };
  return {
    name,
    ok: false,
    detail: `pinned port ${port} is taken (${error.code ?? error.message})`,
    fix: `find the holder with \`ss -ltnp 'sport = :${port}'\` and stop it, or choose another port (VLLM_PORT, VLLM_BASELINE_PORT, LMCACHE_PORT, LMCACHE_HTTP_PORT), or unset it to lease one from PORT_RANGE`,
  };
}

/** sim: the build stage makes the LMCache server image from this Python and its pip (lmcache-server-image.ts). */
async function lmcacheImagePythonCheck(): Promise<DoctorCheck> {
  const name = 'lmcache-image.python';
  try {
    const { stdout } = await execa('python3.11', ['-c', 'import pip, sys; print(sys.version.split()[0])']);
    return { name, ok: true, detail: `python3.11 ${stdout.trim()} with pip, for the LMCache server image` };
  } catch (error) {
    return {
      name,
      ok: false,
      detail: `python3.11 with pip does not run (${firstLine(error)}); lmcache ships cp311 wheels only`,
      fix: 'install CPython 3.11 with pip (apt-get install python3.11 python3-pip, or pyenv install 3.11)',
    };
  }
}

function firstLine(error: unknown): string {
  return (error as Error).message.split('\n')[0];
}

async function diskCheck(name: string, directory: string, minimumGib: number): Promise<DoctorCheck> {
  try {
    const stats = await statfs(directory);
    const freeGib = (stats.bavail * stats.bsize) / 2 ** 30;
    const detail = `${freeGib.toFixed(1)} GiB free at ${directory}`;
    return freeGib >= minimumGib
      ? { name, ok: true, detail }
      : {
          name,
          ok: false,
          detail: `${detail}, needs ${minimumGib} GiB`,
          fix: `free space at ${directory} (for Docker: docker system prune, docker builder prune)`,
        };
  } catch (error) {
    return { name, ok: false, detail: `cannot read free space at ${directory}: ${(error as Error).message}` };
  }
}

function nearestExisting(directory: string): string {
  let current = directory;
  while (!existsSync(current) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .pop()
      ?.slice(0, 300) ?? ''
  );
}

/** One line per check, for a terminal or a log. */
export function renderDoctor(checks: DoctorCheck[]): string {
  const width = Math.max(...checks.map((check) => check.name.length));
  return checks
    .map(
      (check) =>
        `${check.ok ? 'ok  ' : 'FAIL'}  ${check.name.padEnd(width)}  ${check.detail}${check.fix ? `\n      fix: ${check.fix}` : ''}`,
    )
    .join('\n');
}

/** PROFILE when set, else the run script's rule: gpu where nvidia-smi lists a GPU. */
export async function nodeProfile(env: NodeJS.ProcessEnv): Promise<'gpu' | 'sim'> {
  if (env.PROFILE === 'gpu' || env.PROFILE === 'sim') return env.PROFILE;
  const listed = await execa(NVIDIA_SMI, ['-L'], { reject: false });
  return /^GPU /m.test(String(listed.stdout ?? '')) ? 'gpu' : 'sim';
}
