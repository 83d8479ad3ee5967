/**
 * The sim image's base, made here because no registry is reachable: a root file system holding only the
 * Node.js runtime of this machine and the shared libraries it links, turned into an image by
 * `docker import` (dockerode's importImage). Its tag is a hash of what went in, so it is made once per
 * runtime and reused after.
 */
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { imageExists, importRootfs } from '../docker/import-rootfs.js';

export const SIM_BASE_REPOSITORY = 'lmcache-mp-sim-base';
/** Where the sim image expects its runtime (see sim/image/Dockerfile and src/commands/containers.ts). */
const NODE_IN_IMAGE = 'usr/bin/node';

/** Shared-library paths from `ldd` output: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" and the loader line. */
export function sharedLibraries(lddOutput: string): string[] {
  const libraries = new Set<string>();
  for (const line of lddOutput.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (match) libraries.add(match[1]);
  }
  return [...libraries];
}

/** The files of the root file system, as absolute paths on this machine. */
async function runtimeFiles(): Promise<string[]> {
  const node = realpathSync(process.execPath);
  const { stdout } = await execa('ldd', [node]);
  return [node, ...sharedLibraries(stdout)];
}

function contentTag(files: string[]): string {
  const hash = createHash('sha256');
  for (const file of files) {
    const stat = statSync(file);
    hash.update(`${file}\0${stat.size}\0${stat.mtimeMs}\0`);
  }
  return hash.update(process.version).digest('hex').slice(0, 16);
}

/** Ensures the base image exists; returns its reference. */
export async function ensureSimBaseImage(onProgress: (message: string) => void = () => {}): Promise<string> {
  const files = await runtimeFiles();
  const reference = `${SIM_BASE_REPOSITORY}:${contentTag(files)}`;
  if (await imageExists(reference)) return reference;
  onProgress(`importing ${reference} from ${files.length} runtime files`);
  // Staged in a directory of its own: libraries keep their paths (the loader finds them there), node goes
  // where the image expects it; copies dereference the symlinks of a merged /usr.
  const staging = await mkdtemp(path.join(tmpdir(), 'sim-rootfs-'));
  try {
    const [node, ...libraries] = files;
    const placements: Array<[string, string]> = [
      [node, NODE_IN_IMAGE],
      ...libraries.map((file): [string, string] => [file, file.slice(1)]),
    ];
    for (const [source, target] of placements) {
      await mkdir(path.dirname(path.join(staging, target)), { recursive: true });
      await copyFile(source, path.join(staging, target));
    }
    await mkdir(path.join(staging, 'tmp'), { mode: 0o1777 });
    await importRootfs(staging, reference);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return reference;
}
