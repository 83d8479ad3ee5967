/**
 * The workflow's first activity, before anything starts: what the run's input names on the worker's node is there
 * (the LMCache checkout's Dockerfile and long-doc QA script on GPU nodes, a model given as a path, the scripts).
 * Bad input is an InvalidConfig failure, which no retry can mend.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { inputFileProblems, scriptFile } from '../config/input-files.js';
import { InvalidConfigError, type Config } from '../config/schema.js';
import { FailureType } from '../failures.js';

export function refuseProblems(problems: string[]): void {
  if (problems.length === 0) return;
  const message = new InvalidConfigError(problems).message;
  throw ApplicationFailure.create({ type: FailureType.InvalidConfig, message, nonRetryable: true });
}

export async function checkInputFiles(config: Config): Promise<{ scripts: string[] }> {
  refuseProblems(await inputFileProblems(config));
  return { scripts: config.scripts.map((script) => scriptFile(config, script)) };
}
