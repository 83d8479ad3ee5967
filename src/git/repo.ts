/**
 * The git calls of a run at a ref (LMCACHE_REF) and of a bisect: resolve a ref to a commit, describe commits,
 * list a first-parent range, export one commit's tree. Every call is `git -C <repo> …` through execa with an
 * argument array; refs go after `--end-of-options`, so a ref can never be read as an option.
 */
import { mkdir, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import tarFs from 'tar-fs';

export interface CommitInfo {
  /** The full sha. */
  sha: string;
  subject: string;
  /** `Name <email>`. */
  author: string;
  /** The author date, ISO 8601 with its offset. */
  date: string;
}

/** The image tag's and the report's short form of a commit. */
export const SHORT_SHA_LENGTH = 12;

export function shortSha(sha: string): string {
  return sha.slice(0, SHORT_SHA_LENGTH);
}

// One commit per line, its fields split by NUL: a subject is one line and holds no NUL.
const COMMIT_FORMAT = '--format=%H%x00%s%x00%an <%ae>%x00%aI';

/** Commits as COMMIT_FORMAT prints them, in the order printed. Pure. */
export function parseCommitLines(stdout: string): CommitInfo[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [sha, subject, author, date] = line.split('\0');
      if (!/^[0-9a-f]{40,64}$/.test(sha ?? '') || date === undefined) {
        throw new Error(`unexpected git log line: ${JSON.stringify(line)}`);
      }
      return { sha: sha!, subject: subject!, author: author!, date };
    });
}

/** `git -C repoDir …`; its exit code is the caller's to read, but git that cannot run at all is an error. */
async function git(repoDir: string, args: string[]) {
  const result = await execa('git', ['-C', repoDir, ...args], { reject: false });
  if (result.exitCode === undefined) throw new Error(`git could not run on this node: ${result.shortMessage}`);
  return result;
}

/** Why `dir` cannot serve refs, or undefined when it is a git work tree (or a directory inside one). */
export async function notARepository(dir: string): Promise<string | undefined> {
  const result = await git(dir, ['rev-parse', '--is-inside-work-tree']);
  if (result.exitCode === 0 && result.stdout.trim() === 'true') return undefined;
  return result.stderr.trim().split('\n')[0] || 'not a git work tree';
}

/** The full sha `ref` names as a commit, or undefined when it names none. */
export async function resolveCommit(repoDir: string, ref: string): Promise<string | undefined> {
  const result = await git(repoDir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

async function logCommits(repoDir: string, args: string[]): Promise<CommitInfo[]> {
  const result = await git(repoDir, ['log', COMMIT_FORMAT, ...args]);
  if (result.exitCode !== 0) throw new Error(`git log ${args.join(' ')} in ${repoDir} failed: ${result.stderr.trim()}`);
  return parseCommitLines(result.stdout);
}

/** sha, subject, author and date of the commit `sha` (a full sha, as resolveCommit gives). */
export async function commitInfo(repoDir: string, sha: string): Promise<CommitInfo> {
  const [commit] = await logCommits(repoDir, ['-1', '--end-of-options', sha]);
  if (!commit) throw new Error(`no commit ${sha} in ${repoDir}`);
  return commit;
}

/** `git rev-list --first-parent --reverse good..bad`, each commit described: oldest first, bad last. */
export async function listFirstParent(repoDir: string, good: string, bad: string): Promise<CommitInfo[]> {
  return logCommits(repoDir, ['--first-parent', '--reverse', '--end-of-options', `${good}..${bad}`]);
}

/** Whether `ancestor` is `descendant` or one of its ancestors. */
export async function isAncestor(repoDir: string, ancestor: string, descendant: string): Promise<boolean> {
  const result = await git(repoDir, ['merge-base', '--is-ancestor', '--end-of-options', ancestor, descendant]);
  if (result.exitCode === 0 || result.exitCode === 1) return result.exitCode === 0;
  throw new Error(`git merge-base --is-ancestor in ${repoDir} failed: ${result.stderr.trim()}`);
}

/** Whether the commit's tree holds `file` (relative to `repoDir`, which may be a directory inside the repository). */
export async function commitHasFile(repoDir: string, sha: string, file: string): Promise<boolean> {
  // `./` makes the path relative to repoDir rather than to the repository's top.
  return (await git(repoDir, ['cat-file', '-e', '--end-of-options', `${sha}:./${file}`])).exitCode === 0;
}

/**
 * Writes the commit's tree (of `repoDir`, which may be a directory inside the repository) into `dest`, emptied
 * first: `git archive` into tar-fs. Only committed files: nothing of the work tree's changes or untracked files.
 */
export async function exportTree(repoDir: string, sha: string, dest: string): Promise<void> {
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true });
  // Run inside a subdirectory, git archive archives only that subdirectory, at its top.
  const archive = execa('git', ['-C', repoDir, 'archive', '--format=tar', '--end-of-options', sha], {
    buffer: false,
    stderr: 'pipe',
  });
  let stderr = '';
  archive.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    await Promise.all([pipeline(archive.stdout!, tarFs.extract(dest)), archive]);
  } catch (error) {
    throw new Error(`git archive ${sha} of ${repoDir} failed: ${stderr.trim() || (error as Error).message}`);
  }
}
