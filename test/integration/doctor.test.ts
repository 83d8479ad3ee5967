/**
 * The node preflight against this machine: the real Docker engine, the project's tools environment, real
 * ports and files; a stand-in `nvidia-smi` on PATH where a GPU is needed. Every check is shown failing.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { execa } from 'execa';
import { resolveNodePath } from '../../src/node-paths.js';
import { resolveConfig, type ConfigInput } from '../../src/config/schema.js';
import { importedModules, runDoctor, type DoctorCheck, type DoctorOptions } from '../../src/doctor/checks.js';
import { pinnedPortsOf } from '../../src/placement/placement.js';
import { freePort } from '../helpers/ports.js';
import { PROJECT_ROOT } from '../helpers/temporal.js';

const NODE = 'doctor-node';

function failed(checks: DoctorCheck[]): Record<string, string> {
  return Object.fromEntries(
    checks.filter((check) => !check.ok).map((check) => [check.name, `${check.detail} | fix: ${check.fix ?? ''}`]),
  );
}

describe('doctor', { timeout: 180_000 }, () => {
  let scratch: string;
  let ports: ConfigInput;
  let options: DoctorOptions;

  before(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'doctor-'));
    ports = { vllmPort: await freePort(), vllmBaselinePort: await freePort(), lmcachePort: await freePort() };
    const first = await freePort();
    options = {
      resolvePath: resolveNodePath,
      node: { name: NODE, leaseDir: path.join(scratch, 'leases', NODE), portRange: { first, last: first + 9 } },
      pinnedPorts: pinnedPortsOf(ports),
    };
  });
  after(() => rm(scratch, { recursive: true, force: true }));

  const sim = (input: ConfigInput = {}) =>
    resolveConfig({ profile: 'sim', ...ports, ...input }, { workflowId: 'doctor-test' });

  it('passes in sim on this machine, as CI prepares it', async () => {
    const checks = await runDoctor(sim(), options);
    assert.deepEqual(failed(checks), {});
    for (const name of [
      'docker',
      'docker.buildkit',
      'tools.lm_eval',
      'tools.python.openai',
      'repository',
      'hf-cache',
      'disk.docker',
      'lmcache-image.python',
    ]) {
      assert.ok(
        checks.some((check) => check.name === name),
        `no ${name} check`,
      );
    }
  });

  it('names a missing repository file, a broken tools environment, a taken port, an unwritable cache and a full disk', async () => {
    const emptyRepo = path.join(scratch, 'repo');
    await mkdir(emptyRepo);
    const blocker = path.join(scratch, 'a-file');
    await writeFile(blocker, '');
    const bareVenv = path.join(scratch, 'venv');
    await execa('python3', ['-m', 'venv', '--without-pip', bareVenv]);
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(ports.vllmBaselinePort, '0.0.0.0', resolve));
    try {
      const config = sim({ lmcacheRepoDir: emptyRepo, venvDir: bareVenv, hfCacheDir: `${blocker}/hf` });
      const problems = failed(await runDoctor(config, { ...options, minFreeDockerGib: 1e9 }));
      assert.match(problems['repository'], /has no sim\/image\/Dockerfile \| fix: set LMCACHE_REPO_DIR/);
      assert.match(
        problems['tools.lm_eval'],
        /lm_eval --help failed.* \| fix: PROFILE=sim BENCHMARK_DRIVER=builtin scripts\/setup.sh/,
      );
      assert.match(problems['tools.python.openai'], /openai does not import.*ModuleNotFoundError/);
      assert.match(
        problems[`port.${ports.vllmBaselinePort}`],
        /is taken \(EADDRINUSE\) \| fix: find the holder with `ss -ltnp/,
      );
      assert.match(problems['hf-cache'], /is not writable/);
      assert.match(problems['disk.docker'], /GiB free at .*, needs 1000000000 GiB/);
      assert.equal(problems[`port.${ports.vllmPort}`], undefined, 'a free port passes');

      const noVenv = failed(await runDoctor(sim({ venvDir: path.join(scratch, 'nowhere') }), options));
      assert.match(noVenv['tools.venv'], /no Python virtual environment/);
    } finally {
      holder.close();
    }
  });

  it("names the ports a run would lease from the node's range, skipping leased and taken ones", async () => {
    const { first } = options.node.portRange;
    const unpinned = { ...options, pinnedPorts: {} };
    const portsCheck = async (opts: DoctorOptions) =>
      (await runDoctor(sim(), opts)).find((check) => check.name === 'ports')!;
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(first + 1, '0.0.0.0', resolve));
    await mkdir(options.node.leaseDir, { recursive: true });
    await writeFile(path.join(options.node.leaseDir, `port-${first + 3}`), JSON.stringify({ workflowId: 'other' }));
    try {
      const lease = await portsCheck(unpinned);
      assert.equal(lease.ok, true);
      assert.equal(
        lease.detail,
        `a run started now on ${NODE} would use vllm ${first}, baseline ${first + 2}, lmcache ${first + 4}, lmcacheHttp ${first + 5}`,
      );
      const pinned = await portsCheck({ ...unpinned, pinnedPorts: { lmcache: ports.lmcachePort! } });
      assert.match(pinned.detail, new RegExp(`lmcache ${ports.lmcachePort} \\(pinned\\)`));
      const full = await portsCheck({ ...unpinned, node: { ...options.node, portRange: { first, last: first + 4 } } });
      assert.equal(full.ok, false);
      assert.match(
        full.detail,
        new RegExp(`no room on ${NODE} for a run's 4 ports: in the range ${first}-${first + 4}`),
      );
    } finally {
      holder.close();
      await rm(path.join(options.node.leaseDir, `port-${first + 3}`));
    }
  });

  it('says when no Docker engine answers', async () => {
    const problems = failed(
      await runDoctor(sim(), { ...options, docker: new Docker({ socketPath: path.join(scratch, 'no.sock') }) }),
    );
    assert.match(problems['docker'], /no Docker engine answers .* \| fix: start dockerd/);
  });

  it('says when the engine has no BuildKit (a stand-in engine answering as an old Windows daemon)', async () => {
    const oldEngine = {
      version: async () => ({ Version: '18.06.0', ApiVersion: '1.38', Os: 'windows' }),
      info: async () => ({ Runtimes: {}, DockerRootDir: scratch }),
    } as unknown as Docker;
    const problems = failed(await runDoctor(sim(), { ...options, docker: oldEngine }));
    assert.match(problems['docker.buildkit'], /has no BuildKit.* \| fix: use a Linux Docker Engine 18\.09 or newer/);
  });

  it('with PROFILE=gpu, checks the nvidia runtime, nvidia-smi and the modules long_doc_qa.py imports', async () => {
    const bin = path.join(scratch, 'bin');
    await mkdir(bin);
    await writeFile(path.join(bin, 'nvidia-smi'), '#!/usr/bin/env bash\necho "GPU 0: NVIDIA H200 (UUID: GPU-0)"\n');
    await chmod(path.join(bin, 'nvidia-smi'), 0o755);
    const repo = path.join(scratch, 'lmcache');
    await mkdir(path.join(repo, 'docker'), { recursive: true });
    await mkdir(path.join(repo, 'benchmarks/long_doc_qa'), { recursive: true });
    await writeFile(path.join(repo, 'docker/Dockerfile'), 'FROM scratch\n');
    await writeFile(
      path.join(repo, 'benchmarks/long_doc_qa/long_doc_qa.py'),
      'import json\nimport no_such_module_for_doctor\nfrom openai import AsyncOpenAI\n',
    );
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      const config = resolveConfig(
        { profile: 'gpu', ...ports, lmcacheRepoDir: repo, stages: ['build', 'launch', 'health', 'long_doc_qa'] },
        { workflowId: 'doctor-gpu' },
      );
      const checks = await runDoctor(config, { ...options, minFreeDockerGib: 0 });
      const problems = failed(checks);
      assert.match(problems['docker.nvidia-runtime'], /no nvidia runtime .* \| fix: install nvidia-container-toolkit/);
      assert.match(problems['gpu.nvidia-smi'], /lists 1 GPU\(s\); a run needs 2/);
      assert.match(problems['tools.python.no_such_module_for_doctor'], /ModuleNotFoundError/);
      assert.ok(
        checks.some((check) => check.name === 'tools.python.pandas'),
        'pandas is checked on GPU nodes',
      );
      assert.ok(
        checks.some((check) => check.name === 'tools.python.transformers'),
        "lm_eval's tokenizer needs transformers",
      );
      assert.equal(problems['repository'], undefined, 'the Dockerfile and long_doc_qa.py are there');
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('reads the imports of a Python script', () => {
    const source =
      'import os, sys\nimport numpy as np\nfrom pandas import DataFrame\nfrom . import local\n    import json\nfrom a.b import c\n';
    assert.deepEqual(importedModules(source), ['os', 'sys', 'numpy', 'pandas', 'json', 'a']);
  });

  it('exits non-zero from the CLI, one line per check', async () => {
    const result = await execa('node', ['dist/src/client/cli.js', 'doctor'], {
      cwd: PROJECT_ROOT,
      env: {
        PROFILE: 'sim',
        VENV_DIR: path.join(scratch, 'nowhere'),
        VLLM_PORT: String(ports.vllmPort),
        VLLM_BASELINE_PORT: String(ports.vllmBaselinePort),
        LMCACHE_PORT: String(ports.lmcachePort),
      },
      reject: false,
    });
    assert.equal(result.exitCode, 1);
    assert.match(result.stdout, /^FAIL {2}tools\.venv +no Python virtual environment/m);
    assert.match(result.stdout, /^ok {4}docker +Docker /m);
    assert.match(result.stdout, /1 check\(s\) failed/);
  });
});
