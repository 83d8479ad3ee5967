/** The dockerode create options of a pipeline container, from its pure spec (src/commands/containers.ts). */
import type { ContainerSpec } from '../commands/containers.js';

export const SPEC_HASH_LABEL = 'org.lmcache.mp-test.spec';

/** `docker run --network host --ipc host [--runtime nvidia --gpus …]`, as the reference runs them. */
export function containerCreateOptions(spec: ContainerSpec) {
  return {
    name: spec.name,
    Image: spec.image,
    ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
    Cmd: spec.cmd,
    Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
    // A fingerprint of the settings lets a retried launch tell its own up-to-date container from a stale one.
    Labels: {
      ...spec.labels,
      [SPEC_HASH_LABEL]: JSON.stringify([spec.image, spec.entrypoint, spec.cmd, spec.env, spec.gpus]),
    },
    HostConfig: {
      NetworkMode: 'host',
      IpcMode: 'host',
      Binds: spec.binds,
      ...(spec.gpus.length > 0
        ? {
            Runtime: 'nvidia',
            DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: spec.gpus.map(String), Capabilities: [['gpu']] }],
          }
        : {}),
    },
  };
}
