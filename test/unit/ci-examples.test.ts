/**
 * The CI examples work as written: their YAML parses into the shape Buildkite and GitHub Actions read, and
 * every command their shell steps name exists — a script or source file in this repository, a `cli.js`
 * subcommand, a `temporal` subcommand with every flag used, or a tool a CI machine has.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import { PROJECT_ROOT, temporalBinary } from '../helpers/temporal.js';

/** Tools the examples may call that are not part of this repository. */
const KNOWN_TOOLS = new Set([
  'temporal',
  'node',
  'bash',
  'buildkite-agent',
  'sed',
  'cat',
  'cp',
  'mkdir',
  'echo',
  'export',
  'exit',
  'true',
  '[',
]);

/** Shell words, quotes removed; good enough for the examples' one-line commands. */
function words(command: string): string[] {
  const unquote = (word: string) =>
    word.replace(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g, (_, double, single) => double ?? single);
  return (command.match(/(?:"(?:[^"\\]|\\.)*"|'[^']*'|[^\s"'])+/g) ?? []).map(unquote);
}

/** Splits at `&&`, `||`, `;` and `|` outside quotes. */
function pipelineParts(line: string): string[] {
  const parts: string[] = [];
  let quote: string | undefined;
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (quote) {
      if (char === quote) quote = undefined;
      current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      current += char;
    } else if (char === ';' || char === '|' || (char === '&' && line[i + 1] === '&')) {
      parts.push(current);
      current = '';
      if (line[i + 1] === char) i++;
    } else {
      current += char;
    }
  }
  return [...parts, current];
}

/** Every simple command in a script, command substitutions included, without leading assignments. */
export function simpleCommands(script: string): string[][] {
  const commands: string[][] = [];
  const substitutions: string[] = [];
  let text = script.replace(/\\\n/g, ' ');
  // Innermost first: $( … ) without parentheses inside.
  for (let previous = ''; previous !== text;) {
    previous = text;
    text = text.replace(/\$\(([^()]*)\)/g, (_, inner: string) => {
      substitutions.push(inner);
      return 'SUBSTITUTION';
    });
  }
  for (const part of [...text.split('\n'), ...substitutions].flatMap(pipelineParts)) {
    const command = words(part.trim()).filter(
      (word, i, all) => !all.slice(0, i + 1).every((w) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)),
    );
    if (command.length > 0) commands.push(command);
  }
  return commands;
}

const CLI_SOURCE = readFileSync(path.join(PROJECT_ROOT, 'src/client/cli.ts'), 'utf8');

async function checkCommand(command: string[], where: string): Promise<void> {
  const [tool, ...args] = command;
  assert.ok(KNOWN_TOOLS.has(tool!), `${where}: unknown command ${tool} in "${command.join(' ')}"`);
  if (tool === 'bash')
    assert.ok(existsSync(path.join(PROJECT_ROOT, args[0]!)), `${where}: ${args[0]} is not in the repository`);
  if (tool === 'node') {
    const source = args[0]!.replace(/^dist\//, '').replace(/\.js$/, '.ts');
    assert.ok(
      existsSync(path.join(PROJECT_ROOT, source)),
      `${where}: ${args[0]} is not built from a source in the repository`,
    );
    if (source === 'src/client/cli.ts')
      assert.ok(CLI_SOURCE.includes(`'${args[1]}'`), `${where}: cli.js has no command ${args[1]}`);
  }
  if (tool === 'temporal') {
    const firstFlag = args.findIndex((arg) => arg.startsWith('-'));
    const subcommand = firstFlag === -1 ? args : args.slice(0, firstFlag);
    const help = await execa(temporalBinary(), [...subcommand, '--help'], { reject: false, all: true });
    // An unknown subcommand prints its parent's help, so the usage line must name this one.
    const usage = `temporal ${subcommand.join(' ')} [flags]`;
    assert.ok(
      help.exitCode === 0 && help.all.includes(usage),
      `${where}: no such command: temporal ${subcommand.join(' ')}`,
    );
    for (const flag of args.filter((arg) => arg.startsWith('--'))) {
      assert.ok(help.all.includes(flag), `${where}: temporal ${subcommand.join(' ')} has no flag ${flag}`);
    }
  }
}

function read(file: string): any {
  return parse(readFileSync(path.join(PROJECT_ROOT, file), 'utf8'));
}

describe('CI examples', () => {
  it('splits a script into its simple commands', () => {
    assert.deepEqual(simpleCommands('A=1 B="x y" node a.js "$(bash b.sh | sed s)" || status=$?\nexit "$status"'), [
      ['node', 'a.js', 'SUBSTITUTION'],
      ['exit', '$status'],
      ['bash', 'b.sh'],
      ['sed', 's'],
    ]);
  });

  it('refuses commands that do not exist', async () => {
    await assert.rejects(checkCommand(['make', 'test'], 'x'), /unknown command make/);
    await assert.rejects(checkCommand(['bash', 'scripts/no-such.sh'], 'x'), /not in the repository/);
    await assert.rejects(
      checkCommand(['node', 'dist/src/client/cli.js', 'no-such'], 'x'),
      /cli.js has no command no-such/,
    );
    await assert.rejects(
      checkCommand(['temporal', 'workflow', 'execute', '--no-such-flag'], 'x'),
      /has no flag --no-such-flag/,
    );
    await assert.rejects(
      checkCommand(['temporal', 'workflow', 'no-such'], 'x'),
      /no such command: temporal workflow no-such/,
    );
  });

  it('Buildkite: a step that executes the run, uploads junit.xml and annotates with report.md', async () => {
    const pipeline = read('examples/buildkite-pipeline.yml');
    const step = pipeline.steps[0];
    assert.equal(typeof step.command, 'string');
    assert.equal(pipeline.env.TASK_QUEUE, 'lmcache-mp');
    const script: string = step.command;
    assert.match(script, /temporal workflow execute --type lmcacheMpTest/);
    assert.match(script, /buildkite-agent artifact upload/);
    assert.match(script, /buildkite-agent annotate/);
    assert.match(script, /exit "\$\$status"/, "the run's exit code is the step's");
    // Buildkite turns $$ into $ at upload; the step's shell sees the rest.
    for (const command of simpleCommands(script.replace(/\$\$/g, '$'))) await checkCommand(command, 'buildkite');
  });

  it('GitHub Actions: a job that executes the run, publishes the report as the job summary and uploads junit.xml', async () => {
    const workflow = read('examples/github-actions.yml');
    const job = workflow.jobs['lmcache-mp-test'];
    assert.ok(Array.isArray(job.steps) && job.steps.length >= 3);
    const scripts: string[] = job.steps.filter((s: { run?: string }) => s.run).map((s: { run: string }) => s.run);
    assert.ok(scripts.some((s) => /temporal workflow execute --type lmcacheMpTest/.test(s)));
    assert.ok(scripts.some((s) => s.includes('>> "$GITHUB_STEP_SUMMARY"')));
    const upload = job.steps.find((s: { uses?: string }) => s.uses?.startsWith('actions/upload-artifact'));
    assert.equal(upload.with.path, 'ci-results/');
    for (const script of scripts) for (const command of simpleCommands(script)) await checkCommand(command, 'github');
  });
});
