import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { containerSpecs } from '../../src/commands/containers.js';
import { resolveConfig } from '../../src/config/schema.js';
import { containerCreateOptions } from '../../src/docker/create-options.js';

describe('container create options', () => {
  const plan = { workflowId: 'wf', hfCacheDir: '/hf', prometheusPort: 9090, gpus: { withLmcache: 2, baseline: 5 } };

  it('gpu: host network and IPC, the NVIDIA runtime and one GPU per container, as the reference runs them', () => {
    const [lmcache, vllm, baseline] = containerSpecs(
      resolveConfig({ lmcacheRepoDir: '/src/LMCache' }, { workflowId: 'wf' }),
      plan,
    ).map((spec) => containerCreateOptions(spec));
    for (const options of [lmcache, vllm, baseline]) {
      assert.equal(options.HostConfig.NetworkMode, 'host');
      assert.equal(options.HostConfig.IpcMode, 'host');
      assert.equal(options.HostConfig.Runtime, 'nvidia');
    }
    assert.deepEqual(lmcache.HostConfig.DeviceRequests, [
      { Driver: 'nvidia', DeviceIDs: ['2'], Capabilities: [['gpu']] },
    ]);
    assert.deepEqual(vllm.HostConfig.DeviceRequests, [{ Driver: 'nvidia', DeviceIDs: ['2'], Capabilities: [['gpu']] }]);
    assert.deepEqual(baseline.HostConfig.DeviceRequests, [
      { Driver: 'nvidia', DeviceIDs: ['5'], Capabilities: [['gpu']] },
    ]);
    assert.equal(vllm.Entrypoint, undefined, 'the image default entrypoint (vllm serve) is kept');
    assert.deepEqual(lmcache.Entrypoint, ['/opt/venv/bin/python3']);
    assert.deepEqual(vllm.Env, [
      'VLLM_ENABLE_V1_MULTIPROCESSING=0',
      'VLLM_BATCH_INVARIANT=1',
      'PYTHONHASHSEED=0',
      'VLLM_SERVER_DEV_MODE=1',
    ]);
    assert.deepEqual(vllm.HostConfig.Binds, ['/hf:/root/.cache/huggingface']);
  });

  it('a model given as a path on the node: served from that path in both vLLM containers, mounted read-only', () => {
    const config = resolveConfig({ lmcacheRepoDir: '/src/LMCache', model: '/models/Qwen3-14B' }, { workflowId: 'wf' });
    const [lmcache, vllm, baseline] = containerSpecs(config, plan).map((spec) => containerCreateOptions(spec));
    for (const options of [vllm, baseline]) {
      assert.equal(options.Cmd[0], '/models/Qwen3-14B');
      assert.deepEqual(options.HostConfig.Binds, [
        '/hf:/root/.cache/huggingface',
        '/models/Qwen3-14B:/models/Qwen3-14B:ro',
      ]);
    }
    assert.deepEqual(lmcache.HostConfig.Binds, [], 'the LMCache server needs no model');
  });

  it('sim: no NVIDIA runtime or devices, and a settings fingerprint that changes with the arguments', () => {
    const config = resolveConfig({ profile: 'sim' }, { workflowId: 'wf' });
    const [, vllm] = containerSpecs(config, { workflowId: 'wf', hfCacheDir: '/hf', prometheusPort: 9090 });
    const options = containerCreateOptions(vllm);
    assert.equal('Runtime' in options.HostConfig, false);
    assert.equal('DeviceRequests' in options.HostConfig, false);
    const [, otherPort] = containerSpecs(
      { ...config, vllmPort: 8100 },
      { workflowId: 'wf', hfCacheDir: '/hf', prometheusPort: 9090 },
    );
    assert.notEqual(
      containerCreateOptions(otherPort).Labels['org.lmcache.mp-test.spec'],
      options.Labels['org.lmcache.mp-test.spec'],
    );
  });
});
