/**
 * Stage "build": the image, with dockerode, from a build context directory, Dockerfile, target, build
 * arguments and tag — `docker build --build-arg … --target … -f … -t … <dir>` of the reference suite, with
 * BuildKit as the docker CLI uses it. BuildKit's progress is decoded into plain lines for heartbeats and failures.
 * With LMCACHE_REF the context is the ref's commit's tree, exported into the run's directory, and the image is
 * tagged and labelled with the commit; a node that has that commit's image already builds nothing (unless REBUILD).
 */
import { ApplicationFailure, cancellationSignal, heartbeat } from '@temporalio/activity';
import dockerignoreModule from '@balena/dockerignore';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tarFs from 'tar-fs';
import type { Config } from '../config/schema.js';
import { FailureType } from '../failures.js';
import { BuildkitProgress, type StepState } from '../docker/buildkit-trace.js';
import { docker, followProgress, isNotFound } from '../docker/client.js';
import { commitInfo, exportTree, resolveCommit, shortSha, type CommitInfo } from '../git/repo.js';
import { parseDefect } from '../sim/defects.js';
import { beatingWhile } from './keep-alive.js';
import { ensureLmcacheServerImage } from './lmcache-server-image.js';
import { ensureSimBaseImage } from './sim-base-image.js';

// The package is CommonJS with a default-export typing; under NodeNext the factory is the module itself.
const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;
import { resolveNodePath } from '../node-paths.js';

const BUILD_LOG_TAIL_LINES = 40;

interface BuildEvent {
  id?: string;
  aux?: string | { ID?: string };
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * A `.dockerignore` filter for tar-fs. A directory is skipped whole only when it is ignored and no `!`
 * pattern could bring something inside it back, so large ignored trees (node_modules, .git) are not walked.
 */
export function contextFilter(contextDir: string, dockerfile: string): (absolutePath: string) => boolean {
  const file = path.join(contextDir, '.dockerignore');
  if (!existsSync(file)) return () => false;
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const matcher = dockerignore({ ignorecase: false }).add(lines);
  // The literal part of each `!` pattern, up to its first wildcard: only directories on that path can hold a match.
  // The Dockerfile's own path too: it goes in from an ignored directory as well.
  const reincludedPrefixes = [
    ...lines.filter((line) => line.startsWith('!')).map((line) => line.slice(1).replace(/^\/+/, '').split(/[*?[]/)[0]),
    path.normalize(dockerfile),
  ];
  return (absolutePath) => {
    const relative = path.relative(contextDir, absolutePath);
    // Like the docker CLI, the Dockerfile and .dockerignore always go in, even when ignored.
    if (relative === '' || relative === '.dockerignore' || relative === path.normalize(dockerfile)) return false;
    if (!matcher.ignores(relative)) return false;
    const directory = `${relative}/`;
    const mayHoldReincluded = reincludedPrefixes.some(
      (prefix) => prefix.startsWith(directory) || directory.startsWith(prefix),
    );
    return !mayHoldReincluded || !isDirectory(absolutePath);
  };
}

function isDirectory(absolutePath: string): boolean {
  return statSync(absolutePath, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

export interface BuildResult {
  /** The tag built (or found): with LMCACHE_REF, `<image repository>:<short sha>`; later stages run it. */
  image: string;
  imageId: string;
  /** Build steps that ran; `cached` ones were reused from an earlier build. */
  steps: StepState[];
  /** sim: the image of the real LMCache MP server (PyPI lmcache), made beside the sim image. */
  lmcacheServerImage?: string;
  /** With LMCACHE_REF: the commit built. */
  commit?: CommitInfo;
  /** Why nothing was built: `image for <short sha> exists` (a run of a commit that has its image on this node). */
  skipped?: string;
}

/** The label that names the commit an image was built from (LMCACHE_REF runs). */
export const COMMIT_LABEL = 'org.lmcache.mp.commit';
/** The exported tree of a run's commit: its own directory in the run's results directory, removed by cleanup. */
export const SOURCE_TREE_DIR = 'lmcache-source';
/** The sim's build context may hold this file: a defect the image switches on unless a run sets SIM_DEFECT. */
export const SIM_DEFECT_FILE = 'sim-defect';

/** `<repository of image>:<short sha>`: one image per commit, whatever tag IMAGE gives. Pure. */
export function commitImageTag(image: string, sha: string): string {
  return `${image.replace(/:[^:/]*$/, '')}:${shortSha(sha)}`;
}

/** The defect a sim build context bakes in: `sim-defect`'s content, '' when absent or empty (none). */
export async function simDefectOf(contextDir: string): Promise<string> {
  const file = path.join(contextDir, SIM_DEFECT_FILE);
  const text = (await readFile(file, 'utf8').catch(() => '')).trim();
  try {
    parseDefect(text);
  } catch (error) {
    throw ApplicationFailure.create({
      type: FailureType.BuildFailed,
      message: `${file}: ${(error as Error).message}`,
    });
  }
  return text;
}

export async function buildImage(config: Config): Promise<BuildResult> {
  const repoDir = resolveNodePath(config.lmcacheRepoDir);
  if (config.lmcacheRef === '') return build(config, repoDir, config.image);

  // Resolved again here: the ref may have moved since the input was checked, and this is the node that builds.
  const sha = await resolveCommit(repoDir, config.lmcacheRef);
  if (sha === undefined) {
    throw ApplicationFailure.create({
      type: FailureType.InvalidConfig,
      message: `lmcacheRef: ${config.lmcacheRef} (LMCACHE_REF) does not resolve to a commit in ${repoDir} (LMCACHE_REPO_DIR) on this node`,
      nonRetryable: true,
    });
  }
  const commit = await commitInfo(repoDir, sha);
  const image = commitImageTag(config.image, sha);
  const existing = await docker()
    .getImage(image)
    .inspect()
    .catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
  if (existing?.Config.Labels?.[COMMIT_LABEL] === sha && !config.rebuild) {
    const lmcacheServerImage = config.profile === 'sim' ? await ensureLmcacheServerImage() : undefined;
    return {
      image,
      imageId: existing.Id,
      steps: [],
      ...(lmcacheServerImage ? { lmcacheServerImage } : {}),
      commit,
      skipped: `image for ${shortSha(sha)} exists`,
    };
  }
  // Never the working copy: the commit's tree alone, so an uncommitted change cannot reach the image.
  const tree = path.join(config.resultsDir, SOURCE_TREE_DIR);
  heartbeat({ step: `exporting ${shortSha(sha)} (${config.lmcacheRef}) to ${tree}` });
  await exportTree(repoDir, sha, tree);
  return { ...(await build(config, tree, image, { [COMMIT_LABEL]: sha })), commit };
}

async function build(
  config: Config,
  contextDir: string,
  image: string,
  labels: Record<string, string> = {},
): Promise<BuildResult> {
  const dockerfilePath = path.join(contextDir, config.dockerfile);
  if (!existsSync(dockerfilePath)) {
    const ref = config.lmcacheRef === '' ? '' : `, LMCACHE_REF=${config.lmcacheRef}`;
    throw ApplicationFailure.create({
      type: FailureType.BuildFailed,
      message: `no Dockerfile at ${dockerfilePath} (LMCACHE_REPO_DIR=${config.lmcacheRepoDir}${ref}, DOCKERFILE=${config.dockerfile})`,
    });
  }
  const buildArgs = { ...config.buildArgs };
  let lmcacheServerImage: string | undefined;
  if (config.profile === 'sim') {
    buildArgs.BASE_IMAGE = await ensureSimBaseImage((message) => heartbeat({ step: message }));
    buildArgs.SIM_DEFECT = await simDefectOf(contextDir);
    lmcacheServerImage = await ensureLmcacheServerImage((message) => heartbeat({ step: message }));
  }

  const context = tarFs.pack(contextDir, {
    ignore: contextFilter(contextDir, config.dockerfile),
  }) as unknown as NodeJS.ReadableStream;
  // version '2' is BuildKit, as `docker build` uses on any current engine: LMCache's Dockerfiles need its
  // `RUN --mount=type=cache|bind` steps, which the legacy builder refuses.
  const stream = await docker()
    .buildImage(context, {
      t: image,
      dockerfile: config.dockerfile,
      target: config.buildTarget,
      buildargs: buildArgs,
      labels,
      version: '2',
      abortSignal: cancellationSignal(),
    })
    .catch((error: Error) => {
      throw noBuildkit(error) ?? error;
    });

  const progress = new BuildkitProgress();
  const errors: string[] = [];
  let imageId = '';
  const beat = () => heartbeat({ step: progress.currentStep(), lines: progress.lines.length });
  const built = followProgress<BuildEvent>(stream, (event) => {
    if (event.id === 'moby.buildkit.trace' && typeof event.aux === 'string') progress.add(event.aux);
    else if (event.id === 'moby.image.id' && typeof event.aux === 'object') imageId = event.aux.ID ?? '';
    else if (event.stream?.trim()) progress.lines.push(event.stream.trim());
    if (event.error) errors.push(event.errorDetail?.message ?? event.error);
    beat();
  });
  await beatingWhile(built, beat);
  if (errors.length > 0) {
    const tail = progress.lines.slice(-BUILD_LOG_TAIL_LINES).join('\n');
    throw (
      noBuildkit(new Error(errors[0])) ??
      ApplicationFailure.create({
        type: FailureType.BuildFailed,
        message: `building ${image} failed: ${errors[0]}\n--- last ${BUILD_LOG_TAIL_LINES} lines of the build log ---\n${tail}`,
      })
    );
  }
  const inspected = await docker().getImage(image).inspect();
  return {
    image,
    imageId: imageId || inspected.Id,
    steps: progress.stepStates(),
    ...(lmcacheServerImage ? { lmcacheServerImage } : {}),
  };
}

/** The engine's refusal of a BuildKit build, said plainly; undefined for any other error. */
function noBuildkit(error: Error): ApplicationFailure | undefined {
  if (!/buildkit not supported|BuildKit is not supported|unsupported builder version/i.test(error.message))
    return undefined;
  return ApplicationFailure.create({
    type: FailureType.BuildFailed,
    message:
      `the Docker engine has no BuildKit (${error.message}); LMCache's Dockerfiles need it for RUN --mount. ` +
      'Use a Linux Docker engine 18.09 or newer (23.0+ has BuildKit on by default).',
  });
}
