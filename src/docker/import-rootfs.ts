/**
 * Turns a staged root file system into an image with `docker import` (dockerode's importImage): how the sim's
 * images are made where no registry can be reached. One layer, owned by root.
 */
import tarFs from 'tar-fs';
import { docker, followProgress, isNotFound } from './client.js';

/** Imports `rootDir` as `reference` (repo:tag); `changes` are Dockerfile instructions applied to it (ENV, …). */
export async function importRootfs(rootDir: string, reference: string, changes: string[] = []): Promise<void> {
  const rootfs = tarFs.pack(rootDir, {
    map: (header) => ({ ...header, uid: 0, gid: 0 }),
  }) as unknown as NodeJS.ReadableStream;
  const [repo, tag] = reference.split(':');
  const events = await followProgress(await docker().importImage(rootfs, { repo, tag, changes }));
  const failed = events.find((event) => event.error);
  if (failed) throw new Error(`docker import of ${reference} failed: ${failed.error}`);
}

/** Whether the engine has an image `reference`. */
export async function imageExists(reference: string): Promise<boolean> {
  try {
    await docker().getImage(reference).inspect();
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}
