/**
 * The bisect's look into the repository, on a node that has it: the commits between a good and a bad ref along
 * the first-parent line, each described. Refs that name no commit, and a good that is not an ancestor of bad,
 * are refused: no probe could make sense of them.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { resolveRef } from '../config/input-files.js';
import { FailureType } from '../failures.js';
import { commitInfo, isAncestor, listFirstParent, shortSha, type CommitInfo } from '../git/repo.js';
import { resolveNodePath } from '../node-paths.js';

export interface CandidateCommits {
  good: CommitInfo;
  bad: CommitInfo;
  /** `git rev-list --first-parent --reverse good..bad`: oldest first, bad last. */
  candidates: CommitInfo[];
}

export async function listCandidateCommits(input: {
  repoDir: string;
  good: string;
  bad: string;
}): Promise<CandidateCommits> {
  const repo = resolveNodePath(input.repoDir);
  const refuse = (message: string) =>
    ApplicationFailure.create({ type: FailureType.InvalidBisectRange, message, nonRetryable: true });
  const resolve = async (end: 'good' | 'bad') => {
    const resolved = await resolveRef(repo, input[end], { name: end });
    if ('problem' in resolved) throw refuse(resolved.problem);
    return commitInfo(repo, resolved.sha);
  };
  const good = await resolve('good');
  const bad = await resolve('bad');
  if (good.sha === bad.sha) {
    throw refuse(`good (${input.good}) and bad (${input.bad}) are the same commit ${shortSha(good.sha)}`);
  }
  if (!(await isAncestor(repo, good.sha, bad.sha))) {
    throw refuse(
      `good (${input.good}, ${shortSha(good.sha)}) is not an ancestor of bad (${input.bad}, ${shortSha(bad.sha)}) in ${repo}: ` +
        'the bad commit must come after the good one',
    );
  }
  return { good, bad, candidates: await listFirstParent(repo, good.sha, bad.sha) };
}
