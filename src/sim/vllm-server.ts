/**
 * The vLLM-like server of the sim profile: an OpenAI-compatible HTTP server (node:http only) over the sim
 * model and engine. Same argv as `vllm serve`; with an LMCacheMPConnector --kv-transfer-config it is a client of
 * the LMCache MP server on 127.0.0.1:<lmcache.mp.port> (./lmcache-connector.ts), without one it is the baseline. See src/sim/README.md.
 * This file reads the command line and routes requests; completions are in ./completions.ts.
 */
import { statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseVllmArgs, type VllmArgs } from './args.js';
import { Completions } from './completions.js';
import { BLOCK_TOKENS, MAX_MODEL_LEN, costModelSummary, gpuCacheTokens } from './cost-model.js';
import {
  NO_DEFECT,
  describeDefect,
  parseDefect,
  parseGpuCacheTokens,
  parseNoisePercent,
  parseNoiseSeconds,
  parseNoiseSeed,
  parseStartupSeconds,
  type Defect,
} from './defects.js';
import { Engine } from './engine.js';
import { GpuNoise } from './noise.js';
import { readJson, sendJson } from './http.js';
import { LmcacheConnector } from './lmcache-connector.js';
import { createLogger, exitOnSignals, listenOrExit } from './log.js';
import {
  ApiError,
  parseChatRequest,
  parseCompletionRequest,
  parseDetokenizeRequest,
  parseTokenizeRequest,
  type Job,
} from './openai-protocol.js';
import { detokenize, tokenize } from './tokens.js';
import { UsageError } from './usage-error.js';
import { TokenIds } from './vocab.js';

let args: VllmArgs;
let requestedDefect: Defect;
let startupSeconds: number;
let gpuCacheTokensGiven: number | undefined;
let noisePercent: number;
let noiseSeconds: number;
let noiseSeed: number;
try {
  args = parseVllmArgs(process.argv.slice(2));
  // vLLM loads a model given as a path from that directory and fails at start without it: so does the sim, which
  // shows the run mounted the node's model directory.
  if (args.model.startsWith('/') && !statSync(args.model, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`Invalid repository ID or local directory specified: ${JSON.stringify(args.model)}`);
  }
  requestedDefect = parseDefect(process.env.SIM_DEFECT);
  startupSeconds = parseStartupSeconds(process.env.SIM_STARTUP_SECONDS);
  gpuCacheTokensGiven = parseGpuCacheTokens(process.env.SIM_GPU_CACHE_TOKENS);
  noisePercent = parseNoisePercent(process.env.SIM_NOISE_PERCENT);
  noiseSeconds = parseNoiseSeconds(process.env.SIM_NOISE_SECONDS);
  noiseSeed = parseNoiseSeed(process.env.SIM_NOISE_SEED);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`vllm-server: ${error.message}\n`);
  process.exit(2);
}

const log = createLogger(args.lmcachePort === null ? 'sim-vllm' : 'sim-vllm+lmcache');
// Defects are faults of the LMCache path: a server without LMCache has none to show.
const defect = args.lmcachePort === null ? NO_DEFECT : requestedDefect;
const lmcache =
  args.lmcachePort === null ? null : await LmcacheConnector.open(args.lmcachePort, args.model, log, defect);
const noise = new GpuNoise(noisePercent, noiseSeed, lmcache ? 'lmcache' : 'baseline', noiseSeconds);
const engine = new Engine(
  gpuCacheTokensGiven ?? gpuCacheTokens(args.gpuMemoryUtilization),
  lmcache,
  defect,
  log,
  noise,
);
const counters = { requests: 0, served: 0, failed: 0 };
const tokenIds = new TokenIds();
const completions = new Completions(engine, log, args.model);
/** What `GET /version` answers: the sim, shaped as vLLM's `{"version": …}`. */
const SIM_VLLM_VERSION = '0.0.0+sim';

log(
  `sim vLLM server for model ${args.model}: ` +
    (lmcache ? `LMCacheMPConnector -> ${lmcache.stats.endpoint}` : 'no KV connector (baseline)') +
    `, GPU prefix cache ${engine.stats().gpuCache.capacityTokens} tokens` +
    (gpuCacheTokensGiven === undefined
      ? ` (--gpu-memory-utilization ${args.gpuMemoryUtilization})`
      : ` (SIM_GPU_CACHE_TOKENS=${gpuCacheTokensGiven})`) +
    `, attention backend ${args.attentionBackend ?? 'default'}, async scheduling ${args.asyncScheduling ? 'on' : 'off'}`,
);
log(`cost model: ${JSON.stringify(costModelSummary())}`);
if (noisePercent > 0)
  log(
    `SIM_NOISE_PERCENT=${noisePercent}: GPU time per batch jittered, lasting about ${noiseSeconds} s, SIM_NOISE_SEED=${noiseSeed}`,
  );
if (requestedDefect.kind !== 'none') {
  log(
    defect.kind === 'none'
      ? `SIM_DEFECT=${describeDefect(requestedDefect)} ignored: this server has no LMCache connector`
      : `SIM_DEFECT=${describeDefect(defect)} is ON`,
    'WARNING',
  );
}

/** The body of `GET /sim/stats`. */
export type SimStatsBody = ReturnType<typeof statsBody>;

function statsBody() {
  return {
    model: args.model,
    lmcacheEnabled: lmcache !== null,
    defect: describeDefect(defect),
    noise: { percent: noisePercent, seconds: noiseSeconds, seed: noiseSeed },
    requests: { ...counters },
    ...engine.stats(),
    costModel: costModelSummary(),
  };
}

/** Counts a finished completion request; under crash-after:N the Nth one takes the server down. */
function onServed(): void {
  counters.served++;
  if (defect.kind === 'crash-after' && counters.served >= defect.requests) {
    log(
      `SIM_DEFECT=crash-after:${defect.requests}: simulated engine crash after serving ${counters.served} requests`,
      'ERROR',
    );
    process.exit(1);
  }
}

const startedAt = Math.floor(Date.now() / 1000);
const ROUTES: Record<
  string,
  { method: string; handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void }
> = {
  '/health': { method: 'GET', handle: (_req, res) => void res.writeHead(200).end() },
  '/v1/models': {
    method: 'GET',
    handle: (_req, res) =>
      sendJson(res, 200, {
        object: 'list',
        data: [
          {
            id: args.model,
            object: 'model',
            created: startedAt,
            owned_by: 'vllm',
            root: args.model,
            parent: null,
            max_model_len: MAX_MODEL_LEN,
          },
        ],
      }),
  },
  '/v1/completions': { method: 'POST', handle: (req, res) => completion(req, res, parseCompletionRequest) },
  '/v1/chat/completions': { method: 'POST', handle: (req, res) => completion(req, res, parseChatRequest) },
  '/tokenize': { method: 'POST', handle: tokenizeRoute },
  '/detokenize': { method: 'POST', handle: detokenizeRoute },
  // vLLM serves this in dev mode (VLLM_SERVER_DEV_MODE=1): a retried benchmark starts from a cold cache.
  '/reset_prefix_cache': {
    method: 'POST',
    handle: (_req, res) => {
      engine.resetPrefixCache();
      log('prefix cache reset');
      res.writeHead(200).end();
    },
  },
  '/metrics': { method: 'GET', handle: metricsRoute },
  '/version': { method: 'GET', handle: (_req, res) => sendJson(res, 200, { version: SIM_VLLM_VERSION }) },
  '/sim/stats': { method: 'GET', handle: (_req, res) => sendJson(res, 200, statsBody()) },
};

/**
 * vLLM's Prometheus metrics, as much as the pipeline reads: `vllm:cache_config_info`, the KV cache's geometry in the
 * labels of a constant gauge, as vLLM exports its CacheConfig (the long doc QA evidence sizes its workload by it).
 */
function metricsRoute(_req: IncomingMessage, res: ServerResponse): void {
  const labels = {
    block_size: BLOCK_TOKENS,
    cache_dtype: 'auto',
    enable_prefix_caching: 'True',
    gpu_memory_utilization: args.gpuMemoryUtilization,
    num_gpu_blocks: engine.stats().gpuCache.capacityTokens / BLOCK_TOKENS,
  };
  const text = Object.entries(labels)
    .map(([name, value]) => `${name}="${value}"`)
    .join(',');
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  res.end(
    '# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n' +
      '# TYPE vllm:cache_config_info gauge\n' +
      `vllm:cache_config_info{${text}} 1.0\n`,
  );
}

/** vLLM's /tokenize: the prompt's (or the templated chat's) token ids, counted by the same rule as usage. */
async function tokenizeRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const job = parseTokenizeRequest(await readJson(req), args.model);
  const tokens = tokenize(job.text);
  sendJson(res, 200, {
    count: tokens.length,
    max_model_len: MAX_MODEL_LEN,
    tokens: tokens.map((word) => tokenIds.idOf(word)),
    token_strs: job.returnTokenStrs ? tokens : null,
  });
}

/** vLLM's /detokenize: ids back to text that tokenizes to the same ids. */
async function detokenizeRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ids = parseDetokenizeRequest(await readJson(req), args.model);
  const words = ids.map((id) => {
    const word = tokenIds.wordOf(id);
    if (word === undefined) throw new ApiError(400, `token id ${id} is out of vocabulary`, 'tokens');
    return word;
  });
  sendJson(res, 200, { prompt: detokenize(words) });
}

async function completion(
  req: IncomingMessage,
  res: ServerResponse,
  parse: (body: unknown, model: string) => Job,
): Promise<void> {
  counters.requests++;
  const job = parse(await readJson(req), args.model);
  const sequences = completions.sequencesOf(job);
  res.on('finish', onServed);
  await completions.serve(res, job, sequences);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://sim').pathname;
  try {
    if (defect.kind === 'never-healthy') {
      throw new ApiError(503, 'the engine never became ready (SIM_DEFECT=never-healthy)');
    }
    const route = ROUTES[path];
    if (!route) throw new ApiError(404, `no route ${req.method} ${path}`);
    if (req.method !== route.method) throw new ApiError(405, `${path} accepts ${route.method}, not ${req.method}`);
    await route.handle(req, res);
  } catch (error) {
    const apiError =
      error instanceof ApiError ? error : new ApiError(500, `internal error: ${(error as Error).message}`);
    if (!(error instanceof ApiError)) log(`${req.method} ${path}: ${(error as Error).stack}`, 'ERROR');
    if (path.startsWith('/v1/') && req.method === 'POST') {
      counters.failed++;
      log(`${req.method} ${path}: ${apiError.status} ${apiError.message}`, 'WARNING');
    }
    if (!res.headersSent) sendJson(res, apiError.status, apiError.body());
    else res.end();
  }
}

const server = createServer((req, res) => void handle(req, res));
exitOnSignals(log, () => {
  log(`final stats: ${JSON.stringify(statsBody())}`);
  server.close();
  server.closeAllConnections();
  void lmcache?.close();
});

// Like vLLM, nothing listens until the model is loaded: health probes before then get "connection refused".
log(`loading model ${args.model} (SIM_STARTUP_SECONDS=${startupSeconds})`);
await sleep(startupSeconds * 1000);
listenOrExit(server, args.host, args.port, log, (port) => {
  log(`Uvicorn running on http://${args.host}:${port}`);
  if (defect.kind === 'never-healthy') {
    log('SIM_DEFECT=never-healthy: every request, /health included, will get 503', 'WARNING');
  } else {
    log('Application startup complete.');
  }
});
