/**
 * The sim's LMCache server image: the real multiprocess server of PyPI `lmcache` (pinned in
 * sim/lmcache-image/requirements.txt), made here as the sim base is because no registry is reachable. pip
 * installs the pinned packages into /opt/venv of a staged root file system, which also gets this machine's
 * CPython 3.11 and the system libraries everything links; `docker import` makes it an image. The tag hashes the
 * requirements, the runtime and the recipe's version, so the image is made once (minutes: pip fetches torch) and
 * reused.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, cp, mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { execa, type ExecaError } from 'execa';
import { imageExists, importRootfs } from '../docker/import-rootfs.js';
import { FailureType } from '../failures.js';
import { PROJECT_ROOT } from '../node-paths.js';
import { beatingWhile } from './keep-alive.js';
import { sharedLibraries } from './sim-base-image.js';

export const LMCACHE_SERVER_REPOSITORY = 'lmcache-mp-lmcache-server';
/** Part of the tag: raise it when what goes into the image changes (pruning, runtime files, IMAGE_CHANGES). */
const RECIPE_VERSION = 1;
/** Where the GPU profile's LMCache image keeps its Python (src/commands/containers.ts), mirrored here. */
const VENV_IN_IMAGE = 'opt/venv';
const REQUIREMENTS = path.join(PROJECT_ROOT, 'sim/lmcache-image/requirements.txt');
/** lmcache 0.5.6 ships cp311 wheels only. */
const PYTHON = 'python3.11';
const PROGRESS_INTERVAL_MS = 10_000;
const PIP_ERROR_LINES = 15;
const LOCK_POLL_MS = 2000;
/** Longer than any cold build takes (about 3 minutes here). */
const STALE_LOCK_MS = 30 * 60_000;
/** Stdlib parts no server imports: tests, GUIs, installers, the static library (config-3.11-…). */
const STDLIB_UNUSED = /^(test|idlelib|tkinter|turtledemo|ensurepip|lib2to3|site-packages|config-.*)$/;
/** Run-time settings of the image: LMCache's usage telemetry would try to reach the internet from every run. */
const IMAGE_CHANGES = ['ENV LMCACHE_TRACK_USAGE=false', 'ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin'];

interface PythonRuntime {
  executable: string;
  stdlib: string;
  version: string;
}

async function pythonRuntime(): Promise<PythonRuntime> {
  const script =
    'import json, os, sys, sysconfig; print(json.dumps({"executable": os.path.realpath(sys.executable), ' +
    '"stdlib": sysconfig.get_paths()["stdlib"], "version": sys.version.split()[0]}))';
  try {
    const { stdout } = await execa(PYTHON, ['-c', script]);
    return JSON.parse(stdout) as PythonRuntime;
  } catch (error) {
    // Not something a retry mends.
    throw ApplicationFailure.create({
      type: FailureType.BuildFailed,
      nonRetryable: true,
      message:
        `the LMCache server image needs ${PYTHON} on the worker's node (lmcache ships cp311 wheels only): ` +
        (error as Error).message.split('\n')[0],
    });
  }
}

function contentTag(runtime: PythonRuntime): string {
  return createHash('sha256')
    .update(readFileSync(REQUIREMENTS))
    .update(JSON.stringify(runtime))
    .update(String(RECIPE_VERSION))
    .digest('hex')
    .slice(0, 16);
}

/** Says how long `work` has run every few seconds, so that a long step keeps heartbeating. */
function withTicker<T>(label: string, onProgress: (message: string) => void, work: Promise<T>): Promise<T> {
  const started = Date.now();
  const tick = () => onProgress(`${label} (${Math.round((Date.now() - started) / 1000)} s)`);
  return beatingWhile(work, tick, PROGRESS_INTERVAL_MS);
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

const isSharedLibrary = (file: string) => /\.so(\.\d+)*$/.test(file);

/**
 * Drops what only a GPU build or a compiler uses: headers, static archives, bitcode, and the NVIDIA libraries
 * that nothing links (torch opens cuDNN's engines and the like only for GPU work; lmcache's extensions link
 * libtorch, which links the rest at load time, so those stay). Returns the host libraries that the kept ones need.
 */
async function pruneSitePackages(sitePackages: string, roots: string[]): Promise<string[]> {
  for (const entry of await readdir(sitePackages, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    await rm(path.join(sitePackages, entry.name, 'include'), { recursive: true, force: true });
    if (entry.name === 'nvidia') {
      for (const vendorDir of await readdir(path.join(sitePackages, 'nvidia'))) {
        await rm(path.join(sitePackages, 'nvidia', vendorDir, 'include'), { recursive: true, force: true });
      }
    }
  }
  // Console scripts pip put there (torch/bin stays: torch maps shared CPU memory through its torch_shm_manager).
  await rm(path.join(sitePackages, 'bin'), { recursive: true, force: true });
  const files = await filesUnder(sitePackages);
  for (const file of files.filter((name) => /\.(a|bc)$/.test(name))) await rm(file);
  const nvidiaDir = path.join(sitePackages, 'nvidia') + path.sep;
  const linkers = [...roots, ...files.filter((file) => isSharedLibrary(file) && !file.startsWith(nvidiaDir))];
  // ldd prints each file's whole dependency closure (as RUNPATH spells it: torch/lib/../../nvidia/…); files it
  // cannot load are reported and skipped.
  const { stdout } = await execa('ldd', linkers, { reject: false });
  const needed = new Set(sharedLibraries(stdout).map((file) => path.normalize(file)));
  for (const file of files.filter((name) => name.startsWith(nvidiaDir) && isSharedLibrary(name))) {
    if (!needed.has(file)) await rm(file);
  }
  return [...needed].filter((file) => !file.startsWith(sitePackages));
}

/**
 * Runs `build` holding this machine's lock for `tag` (a directory made atomically), so that runs starting together
 * on a fresh node (one or several workers) make the 3.8 GB image once; the others wait, then find it. A lock left
 * by a killed worker is taken over once it is older than any build takes.
 */
export async function holdingBuildLock(
  tag: string,
  onProgress: (message: string) => void,
  build: () => Promise<void>,
): Promise<void> {
  const lock = path.join(tmpdir(), `${LMCACHE_SERVER_REPOSITORY}-${tag}.lock`);
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    if (age > STALE_LOCK_MS) {
      await rm(lock, { recursive: true, force: true });
      continue;
    }
    onProgress(`waiting for another build of ${LMCACHE_SERVER_REPOSITORY}:${tag} (${Math.round(age / 1000)} s)`);
    await sleep(LOCK_POLL_MS);
  }
  try {
    await build();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** Ensures the LMCache server image exists; returns its reference. */
export async function ensureLmcacheServerImage(onProgress: (message: string) => void = () => {}): Promise<string> {
  const runtime = await pythonRuntime();
  const tag = contentTag(runtime);
  const reference = `${LMCACHE_SERVER_REPOSITORY}:${tag}`;
  if (await imageExists(reference)) return reference;
  await holdingBuildLock(tag, onProgress, async () => {
    const staging = path.join(tmpdir(), `lmcache-rootfs-${tag}`);
    // Another build may have made it while this one waited for the lock.
    if (!(await imageExists(reference))) await makeImage(runtime, reference, staging, onProgress);
  });
  return reference;
}

/** Stages the root file system in `staging` (left over by a killed build, it is started afresh) and imports it. */
async function makeImage(
  runtime: PythonRuntime,
  reference: string,
  staging: string,
  onProgress: (message: string) => void,
): Promise<void> {
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging);
  try {
    const stage = (absolute: string) => path.join(staging, absolute);
    const pythonDir = `python${runtime.version.split('.').slice(0, 2).join('.')}`;
    const sitePackages = stage(path.join(VENV_IN_IMAGE, 'lib', pythonDir, 'site-packages'));
    const label = `pip installing ${path.relative(PROJECT_ROOT, REQUIREMENTS)} for ${reference}`;
    onProgress(label);
    await withTicker(
      label,
      onProgress,
      execa(PYTHON, [
        ...['-m', 'pip', 'install', '--no-deps', '--only-binary=:all:', '--progress-bar', 'off'],
        ...['--target', sitePackages, '--requirement', REQUIREMENTS],
      ]).catch((error: ExecaError) => {
        // Retried by the stage (an index that did not answer); pip's own last lines say what went wrong.
        const tail = String(error.stderr ?? '')
          .trim()
          .split('\n')
          .slice(-PIP_ERROR_LINES)
          .join('\n');
        throw new Error(`pip could not install ${REQUIREMENTS} (exit ${error.exitCode}):\n${tail}`);
      }),
    );

    onProgress(`staging the Python ${runtime.version} runtime for ${reference}`);
    const dynload = path.join(runtime.stdlib, 'lib-dynload');
    const roots = [runtime.executable, ...(await filesUnder(dynload)).filter(isSharedLibrary)];
    const hostLibraries = await pruneSitePackages(sitePackages, roots);
    await cp(runtime.stdlib, stage(runtime.stdlib), {
      recursive: true,
      filter: (source) => !STDLIB_UNUSED.test(path.relative(runtime.stdlib, source).split(path.sep)[0]),
    });
    // The runtime keeps its paths (its RUNPATH and the loader find libraries there); copies dereference symlinks.
    for (const file of [runtime.executable, ...hostLibraries]) {
      await mkdir(path.dirname(stage(file)), { recursive: true });
      await copyFile(file, stage(file));
    }
    // A virtual environment at the GPU image's path: python3 → the runtime, pyvenv.cfg names its home.
    await mkdir(stage(path.join(VENV_IN_IMAGE, 'bin')), { recursive: true });
    await symlink(runtime.executable, stage(path.join(VENV_IN_IMAGE, 'bin', 'python3')));
    await writeFile(
      stage(path.join(VENV_IN_IMAGE, 'pyvenv.cfg')),
      `home = ${path.dirname(runtime.executable)}\ninclude-system-site-packages = false\nversion = ${runtime.version}\n`,
    );
    await mkdir(stage('tmp'), { mode: 0o1777 });
    // Python and torch look the user up (getpass, home directory).
    await mkdir(stage('etc'));
    await writeFile(stage('etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(stage('etc/group'), 'root:x:0:\n');

    await withTicker(`importing ${reference}`, onProgress, importRootfs(staging, reference, IMAGE_CHANGES));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
