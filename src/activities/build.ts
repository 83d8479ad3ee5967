/**
 * Stage "build": the image, with dockerode, from a build context directory, Dockerfile, target, build
 * arguments and tag — `docker build --build-arg … --target … -f … -t … <dir>` of the reference suite.
 */
import { ApplicationFailure, cancellationSignal, heartbeat } from '@temporalio/activity';
import dockerignoreModule from '@balena/dockerignore';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import tarFs from 'tar-fs';
import type { Config } from '../config/schema.js';
import { FailureType } from '../failures.js';
import { docker, followProgress } from '../docker/client.js';
import { ensureSimBaseImage } from './sim-base-image.js';

// The package is CommonJS with a default-export typing; under NodeNext the factory is the module itself.
const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;
import { resolveNodePath } from './stage.js';

const BUILD_LOG_TAIL_LINES = 40;

interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/**
 * A `.dockerignore` filter for tar-fs. A directory is skipped whole only when it is ignored and no `!`
 * pattern could bring something inside it back, so large ignored trees (node_modules, .git) are not walked.
 */
export function contextFilter(contextDir: string, dockerfile: string): (absolutePath: string) => boolean {
  const file = path.join(contextDir, '.dockerignore');
  if (!existsSync(file)) return () => false;
  const lines = readFileSync(file, 'utf8').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
  const matcher = dockerignore({ ignorecase: false }).add(lines);
  // The literal part of each `!` pattern, up to its first wildcard: only directories on that path can hold a match.
  const reincludedPrefixes = lines
    .filter((line) => line.startsWith('!'))
    .map((line) => line.slice(1).replace(/^\/+/, '').split(/[*?[]/)[0]);
  return (absolutePath) => {
    const relative = path.relative(contextDir, absolutePath);
    // Like the docker CLI, the Dockerfile and .dockerignore always go in, even when ignored.
    if (relative === '' || relative === '.dockerignore' || relative === path.normalize(dockerfile)) return false;
    if (!matcher.ignores(relative)) return false;
    const directory = `${relative}/`;
    const mayHoldReincluded = reincludedPrefixes.some((prefix) => prefix.startsWith(directory) || directory.startsWith(prefix));
    return !mayHoldReincluded || !isDirectory(absolutePath);
  };
}

function isDirectory(absolutePath: string): boolean {
  return statSync(absolutePath, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

export interface BuildResult {
  image: string;
  imageId: string;
  steps: number;
}

export async function buildImage(config: Config): Promise<BuildResult> {
  const contextDir = resolveNodePath(config.lmcacheRepoDir);
  const dockerfilePath = path.join(contextDir, config.dockerfile);
  if (!existsSync(dockerfilePath)) {
    throw ApplicationFailure.create({
      type: FailureType.BuildFailed,
      message: `no Dockerfile at ${dockerfilePath} (LMCACHE_REPO_DIR=${config.lmcacheRepoDir}, DOCKERFILE=${config.dockerfile})`,
    });
  }
  const buildArgs = { ...config.buildArgs };
  if (config.profile === 'sim') {
    buildArgs.BASE_IMAGE = await ensureSimBaseImage((message) => heartbeat({ step: message }));
  }

  const context = tarFs.pack(contextDir, { ignore: contextFilter(contextDir, config.dockerfile) }) as unknown as NodeJS.ReadableStream;
  const stream = await docker().buildImage(context, {
    t: config.image,
    dockerfile: config.dockerfile,
    target: config.buildTarget,
    buildargs: buildArgs,
    rm: true,
    forcerm: true,
    abortSignal: cancellationSignal(),
  });

  const log: string[] = [];
  let steps = 0;
  let imageId = '';
  let lastStep = '';
  await followProgress<BuildEvent>(stream, (event) => {
    const text = event.stream ?? event.status ?? '';
    for (const line of text.split('\n').filter((l) => l.trim() !== '')) log.push(line);
    if (event.aux?.ID) imageId = event.aux.ID;
    const step = /^Step (\d+)\/(\d+) : (.*)/.exec(text);
    if (step) {
      steps = Number(step[1]);
      lastStep = `step ${step[1]}/${step[2]}: ${step[3].trim()}`;
    }
    if (event.error) log.push(`ERROR: ${event.errorDetail?.message ?? event.error}`);
    heartbeat({ step: lastStep, lines: log.length });
  });
  const failure = log.find((line) => line.startsWith('ERROR: '));
  if (failure) {
    throw ApplicationFailure.create({
      type: FailureType.BuildFailed,
      message: `building ${config.image} failed: ${failure.slice(7)}\n--- last ${BUILD_LOG_TAIL_LINES} lines of the build log ---\n${log.slice(-BUILD_LOG_TAIL_LINES).join('\n')}`,
    });
  }
  const inspected = await docker().getImage(config.image).inspect();
  return { image: config.image, imageId: imageId || inspected.Id, steps };
}
