/**
 * `cli.js bisect-input GOOD BAD --check NAME | --figure 'queryTtft>0.15'`: the `lmcacheMpBisect` input from the
 * arguments and the same environment as a run (every probe's configuration), plus the BISECT_* knobs. Bad input
 * is refused naming the argument or variable and its value.
 */
import { parsePredicate } from '../bisect/predicate.js';
import { BISECT_ENV, resolveBisectInput, type BisectSettings } from '../config/bisect-input.js';
import { loadConfigFromEnv } from '../config/env.js';
import { InvalidConfigError } from '../config/schema.js';

export interface BisectArguments {
  good?: string;
  bad?: string;
  check?: string;
  figure?: string;
}

function wholeNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name]?.trim();
  if (!text) return undefined;
  if (!/^\d+(\.\d+)?$/.test(text)) throw new InvalidConfigError([`${name}=${JSON.stringify(text)} must be a number`]);
  return Number(text);
}

export function bisectInput(args: BisectArguments, env: NodeJS.ProcessEnv, workflowId: string): BisectSettings {
  const problems: string[] = [];
  if (!args.good) problems.push('GOOD (the first argument) must name the last known good commit, tag or branch');
  if (!args.bad) problems.push('BAD (the second argument) must name a commit, tag or branch that fails');
  if (Boolean(args.check) === Boolean(args.figure)) {
    problems.push("give exactly one of --check NAME or --figure 'FIGURE>LIMIT'");
  }
  if (problems.length > 0) throw new InvalidConfigError(problems);
  const predicate = parsePredicate(args.check ? `--check ${args.check}` : `--figure ${args.figure}`);
  // The probes' configuration, validated as a run's would be (its own workflow id gives the bisect's results dir).
  const { input } = loadConfigFromEnv(env, workflowId);
  const knobs = Object.fromEntries(
    Object.entries(BISECT_ENV).flatMap(([field, name]) => {
      const value = wholeNumber(env, name);
      return value === undefined ? [] : [[field, value]];
    }),
  );
  try {
    return resolveBisectInput({ good: args.good, bad: args.bad, predicate, config: input, ...knobs });
  } catch (error) {
    if (!(error instanceof InvalidConfigError)) throw error;
    // Name the variable the user set rather than the input field.
    const named = error.problems.map((problem) =>
      Object.entries(BISECT_ENV).reduce(
        (text, [field, name]) => text.replace(new RegExp(`^${field}:`), `${name}:`),
        problem,
      ),
    );
    throw new InvalidConfigError(named);
  }
}
