/**
 * The CI examples work as written: their YAML parses into the shape Buildkite and GitHub Actions read, and
 * every command their shell steps name exists — a script or source file in this repository, a `cli.js`
 * subcommand, a `temporal` subcommand with every flag used, or a tool a CI machine has. Their run steps, run
 * with `temporal` and `buildkite-agent` stubbed, turn a run green only through an override into a soft failure
 * (Buildkite) or a warning (GitHub Actions), never into a silent pass.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import type { RunReport } from '../../src/report/types.js';
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
  const lines = text.split('\n').filter((line) => !line.trim().startsWith('#'));
  for (const part of [...lines, ...substitutions].flatMap(pipelineParts)) {
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

/** A completed run's report: green, and with `overridden` only thanks to a retryStage override of a threshold. */
function greenReport(overridden: boolean): RunReport {
  const check = { name: 'long_doc_qa.query_ttft_per_prompt', passed: true, value: 0.05, limit: 0.2 };
  const passedStage = { name: 'long_doc_qa', status: 'passed' as const, durationMs: 1000 };
  return {
    workflowId: 'lmcache-mp-test-ci',
    runId: 'r',
    buildId: 'ci',
    profile: 'sim',
    model: 'sim/greedy-echo',
    passed: true,
    verdict: overridden ? 'passed-with-overrides' : 'passed',
    resultsDir: '',
    stages: overridden
      ? [
          { ...passedStage, status: 'failed', superseded: true },
          { ...passedStage, retry: 1, overrides: { maxLmcacheTtft: { original: 0.001, overridden: 0.2 } } },
        ]
      : [passedStage],
    checks: [check],
  };
}

/**
 * Runs an example's shell script, without its install lines and history page (which needs a Temporal server),
 * with `temporal` (the run completes) and
 * `buildkite-agent` replaced by stubs that record their arguments and input, over a results directory that
 * holds `report`. Returns the exit code, the output and what the stubs and GitHub's files received.
 */
async function runStep(script: string, report: RunReport) {
  const dir = await mkdtemp(path.join(tmpdir(), 'ci-example-'));
  try {
    const stubs = path.join(dir, 'bin');
    const results = path.join(dir, 'results');
    await execa('mkdir', ['-p', stubs, results]);
    // The step's working directory is a checkout: its build, without the files the step writes (ci-results/).
    await symlink(path.join(PROJECT_ROOT, 'dist'), path.join(dir, 'dist'));
    await writeFile(path.join(results, 'report.json'), JSON.stringify({ ...report, resultsDir: results }));
    await writeFile(path.join(results, 'report.md'), '# report\n');
    const calls = path.join(dir, 'calls');
    const stub = (exitCode: number) =>
      `#!/bin/bash\n{ echo "$(basename "$0") $*"; [ -t 0 ] || cat; } >>"${calls}"\nexit ${exitCode}\n`;
    await writeFile(path.join(stubs, 'temporal'), stub(0));
    await writeFile(path.join(stubs, 'buildkite-agent'), stub(0));
    await Promise.all(['temporal', 'buildkite-agent'].map((tool) => chmod(path.join(stubs, tool), 0o755)));
    // `cli.js follow` exits with the run's code, as `cli.js verdict` does for the run's report: here there is no run.
    const body = script
      .replace(
        /node dist\/src\/client\/cli\.js follow --workflow-id "\$WORKFLOW_ID"/,
        'node dist/src/client/cli.js verdict "$RESULTS_DIR/report.json" >/dev/null',
      )
      .split('\n')
      .filter(
        (line) => !/^(bash scripts\/setup\.sh|export PATH=|node dist\/src\/client\/cli\.js history)/.test(line.trim()),
      )
      .join('\n');
    const files = { GITHUB_ENV: path.join(dir, 'github-env'), GITHUB_STEP_SUMMARY: path.join(dir, 'summary') };
    const run = await execa('bash', ['-e', '-c', body], {
      cwd: dir,
      env: {
        ...files,
        PATH: `${stubs}:${process.env.PATH}`,
        PROFILE: 'sim',
        BUILD_ID: 'ci',
        TASK_QUEUE: 'lmcache-mp',
        RESULTS_DIR: results,
      },
      stdin: 'ignore',
      reject: false,
      all: true,
    });
    const text = async (file: string) => (existsSync(file) ? readFile(file, 'utf8') : '');
    return {
      exitCode: run.exitCode,
      output: run.all,
      calls: await text(calls),
      summary: await text(files.GITHUB_STEP_SUMMARY),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('CI examples', () => {
  it('splits a script into its simple commands', () => {
    const script = '# a comment\nA=1 B="x y" node a.js "$(bash b.sh | sed s)" || status=$?\nexit "$status"';
    assert.deepEqual(simpleCommands(script), [
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

  it('Buildkite: a step that starts and follows the run, uploads junit.xml and annotates with report.md', async () => {
    const pipeline = read('examples/buildkite-pipeline.yml');
    const step = pipeline.steps[0];
    assert.equal(typeof step.command, 'string');
    assert.equal(pipeline.env.TASK_QUEUE, 'lmcache-mp');
    const script: string = step.command;
    assert.match(script, /temporal workflow start --type lmcacheMpTest/);
    assert.match(script, /node dist\/src\/client\/cli\.js follow --workflow-id "\$\$WORKFLOW_ID" \|\| status=\$\$\?/);
    assert.match(script, /buildkite-agent artifact upload/);
    assert.match(script, /buildkite-agent annotate/);
    assert.match(script, /exit "\$\$status"/, "the run's exit code is the step's");
    // Buildkite turns $$ into $ at upload; the step's shell sees the rest.
    for (const command of simpleCommands(script.replace(/\$\$/g, '$'))) await checkCommand(command, 'buildkite');
  });

  it('Buildkite: a run green only through an override soft-fails the step (exit 3) with a warning naming it', async () => {
    const step = read('examples/buildkite-pipeline.yml').steps[0];
    assert.deepEqual(step.soft_fail, [{ exit_status: 3 }]);
    const script: string = step.command.replace(/\$\$/g, '$');
    const overridden = await runStep(script, greenReport(true));
    assert.equal(overridden.exitCode, 3, overridden.output);
    assert.match(overridden.calls, /buildkite-agent annotate --context lmcache-mp-test --style warning/);
    assert.match(
      overridden.calls,
      /buildkite-agent annotate --context lmcache-mp-overrides --style warning\nGreen only with overridden settings: passed-with-overrides \(long_doc_qa: maxLmcacheTtft 0\.001 → 0\.2\)/,
    );
    const plain = await runStep(script, greenReport(false));
    assert.equal(plain.exitCode, 0, plain.output);
    assert.match(plain.calls, /--style success/);
    assert.doesNotMatch(plain.calls, /lmcache-mp-overrides/);
  });

  it('GitHub Actions: a job that starts and follows the run, publishes the report as the job summary and uploads junit.xml', async () => {
    const workflow = read('examples/github-actions.yml');
    const job = workflow.jobs['lmcache-mp-test'];
    assert.ok(Array.isArray(job.steps) && job.steps.length >= 3);
    const scripts: string[] = job.steps.filter((s: { run?: string }) => s.run).map((s: { run: string }) => s.run);
    assert.ok(
      scripts.some((s) =>
        /temporal workflow start --type lmcacheMpTest[^]*\nnode dist\/src\/client\/cli\.js follow --workflow-id "\$WORKFLOW_ID" \|\| status=\$\?$/m.test(
          s,
        ),
      ),
    );
    assert.ok(scripts.some((s) => s.includes('>> "$GITHUB_STEP_SUMMARY"')));
    const upload = job.steps.find((s: { uses?: string }) => s.uses?.startsWith('actions/upload-artifact'));
    assert.equal(upload.with.path, 'ci-results/');
    for (const script of scripts) for (const command of simpleCommands(script)) await checkCommand(command, 'github');
  });

  it('GitHub Actions: a run green only through an override passes with a warning and a job summary line naming it', async () => {
    const steps: { name?: string; run?: string }[] = read('examples/github-actions.yml').jobs['lmcache-mp-test'].steps;
    const script = steps.find((step) => step.name === 'Run the test')!.run!;
    const overridden = await runStep(script, greenReport(true));
    assert.equal(overridden.exitCode, 0, overridden.output);
    const named = 'passed-with-overrides (long_doc_qa: maxLmcacheTtft 0.001 → 0.2)';
    assert.ok(overridden.output.includes(`::warning title=Passed only with overrides::${named}`), overridden.output);
    assert.ok(overridden.summary.includes(`Green only with overridden settings:** ${named}`), overridden.summary);
    const plain = await runStep(script, greenReport(false));
    assert.equal(plain.exitCode, 0, plain.output);
    assert.doesNotMatch(plain.output, /::warning/);
    assert.equal(plain.summary, '');
  });
});
