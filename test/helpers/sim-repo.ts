/**
 * A real git repository holding the sim image's build context (what the root .dockerignore lets in from this
 * project: sim/image/, the compiled sim servers, their node_modules files), with a given number of commits, some of
 * which write `sim-defect`: so a commit can bring in a regression, for builds at a ref and for bisects.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import tarFs from 'tar-fs';
import { contextFilter, SIM_DEFECT_FILE } from '../../src/activities/build.js';
import { SIM_DEFAULTS } from '../../src/config/defaults.js';
import { PROJECT_ROOT } from '../../src/node-paths.js';

export interface SimRepo {
  dir: string;
  /** Full shas, oldest first: `shas[i]` is commit i. */
  shas: string[];
}

/** Copies this project's sim build context, filtered as the build filters it, into `dir`. */
export async function copySimContext(dir: string): Promise<void> {
  const pack = tarFs.pack(PROJECT_ROOT, { ignore: contextFilter(PROJECT_ROOT, SIM_DEFAULTS.dockerfile) });
  await pipeline(pack, tarFs.extract(dir));
}

/**
 * `commits` commits (at least 1): commit 0 adds the build context, each later one changes a file outside it
 * (`CHANGES`); commit i in `defectAt` writes its defect to `sim-defect` ('' empties it: a fix), which stays in every
 * later commit. Authored by "Sim Dev <sim@example.com>", committed at fixed times a minute apart.
 */
export async function makeSimRepo(options: { commits: number; defectAt?: Record<number, string> }): Promise<SimRepo> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sim-repo-'));
  await copySimContext(dir);
  const git = (args: string[], index = 0) =>
    execa('git', ['-C', dir, ...args], {
      env: {
        GIT_AUTHOR_NAME: 'Sim Dev',
        GIT_AUTHOR_EMAIL: 'sim@example.com',
        GIT_COMMITTER_NAME: 'Sim Dev',
        GIT_COMMITTER_EMAIL: 'sim@example.com',
        GIT_AUTHOR_DATE: `2026-11-01T00:${String(index % 60).padStart(2, '0')}:00Z`,
        GIT_COMMITTER_DATE: `2026-11-01T00:${String(index % 60).padStart(2, '0')}:00Z`,
      },
    });
  await git(['init', '--quiet', '--initial-branch=main']);
  const shas: string[] = [];
  for (let index = 0; index < options.commits; index++) {
    const defect = options.defectAt?.[index];
    if (defect !== undefined) await writeFile(path.join(dir, SIM_DEFECT_FILE), defect === '' ? '' : `${defect}\n`);
    if (index > 0) await writeFile(path.join(dir, 'CHANGES'), `change ${index}\n`, { flag: 'a' });
    await git(['add', '--all']);
    const subject = index === 0 ? 'sim build context' : `change ${index}${defect ? ` (sim-defect ${defect})` : ''}`;
    await git(['commit', '--quiet', '--message', subject], index);
    shas.push((await git(['rev-parse', 'HEAD'])).stdout.trim());
  }
  return { dir, shas };
}
