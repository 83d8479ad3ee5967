/**
 * `vllm bench serve --save-result` throughput check: both runs complete every prompt with the expected input
 * size (the chat frame included) and the same count, and LMCache's total token throughput is within the allowed
 * slowdown of the baseline.
 */
import { OutputParseError } from './errors.js';
import { atLeast, atMost, formatNumber } from './format.js';
import { isPlainObject, parsePythonJson, requireFiniteNumbers, truncate } from './py-json.js';
import type { Check } from '../report/types.js';
import { describeSamples, median, summarize, type Figure } from './grey-zone.js';

export interface BenchResult {
  completed: number;
  total_input_tokens: number;
  total_token_throughput: number;
  [key: string]: unknown;
}

const REQUIRED = ['completed', 'total_input_tokens', 'total_token_throughput'] as const;

/** Reads a saved result file; throws OutputParseError when it is not JSON or a field is missing / not a finite number. */
export function parseBenchResult(text: string, source: string): BenchResult {
  const fail = (reason: string) => new OutputParseError(`vllm bench result ${source}: ${reason}`);
  if (text.trim() === '') throw fail('the file is empty');
  let parsed: unknown;
  try {
    parsed = parsePythonJson(text);
  } catch (err) {
    throw fail(`not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(parsed)) throw fail('not a JSON object');
  requireFiniteNumbers(parsed, REQUIRED, fail);
  return parsed as BenchResult;
}

export interface BenchLimits {
  numPrompts: number;
  randomInputLen: number;
  maxSlowdownPercent: number;
  tokenCountTolerancePercent: number;
}

/**
 * One side's run: the tool's saved result, and the tokens its server's chat template adds around one user
 * message beyond what the tokenizer adds to a plain prompt, measured from that server before the tool ran.
 * With `--backend openai-chat` the tool counts the server's `usage.prompt_tokens`, frame included, while its
 * random prompts are RANDOM_INPUT_LEN less only the tokenizer's own special tokens.
 */
export interface BenchRun {
  result: BenchResult;
  chatFrameTokens: number;
}

export interface BenchRuns {
  baseline?: BenchRun;
  lmcache?: BenchRun;
}

const RUNS = [
  { key: 'baseline', label: 'baseline' },
  { key: 'lmcache', label: 'LMCache' },
] as const;

export function verifyBench(runs: BenchRuns, limits: BenchLimits): Check[] {
  const checks: Check[] = [];
  for (const { key, label } of RUNS) checks.push(...runChecks(key, label, runs[key], limits));
  checks.push(sameInputTokensCheck(runs));
  checks.push(throughputCheck({ baseline: runs.baseline?.result, lmcache: runs.lmcache?.result }, limits));
  return checks;
}

/**
 * A grey-zone repeat counts only if it measured the same workload: each passing completion or token-count check
 * of the first pair is replaced by the first repeat pair that fails it. The throughput check is the median's.
 */
export function withRepeatsVerified(checks: Check[], repeats: readonly BenchRuns[], limits: BenchLimits): Check[] {
  const repeatChecks = repeats.map((runs) => verifyBench(runs, limits));
  return checks.map((check) => {
    if (!check.passed || check.name === 'vllm_bench.throughput') return check;
    for (const [index, verified] of repeatChecks.entries()) {
      const failed = verified.find((other) => other.name === check.name && !other.passed);
      if (failed) return { ...failed, detail: `Grey-zone repeat ${index + 1}: ${failed.detail}` };
    }
    return check;
  });
}

function runChecks(key: string, label: string, run: BenchRun | undefined, limits: BenchLimits): Check[] {
  const completed = `vllm_bench.${key}.completed`;
  const inputTokens = `vllm_bench.${key}.total_input_tokens`;
  if (!run) {
    const detail = `No result from the ${label} run of vllm bench serve.`;
    return [
      { name: completed, passed: false, value: null, limit: limits.numPrompts, detail },
      { name: inputTokens, passed: false, value: null, limit: null, detail },
    ];
  }
  const { result } = run;
  return [
    {
      name: completed,
      passed: result.completed === limits.numPrompts,
      value: result.completed,
      limit: limits.numPrompts,
      detail:
        result.completed === limits.numPrompts
          ? `All ${limits.numPrompts} ${label} requests completed.`
          : `${result.completed} of ${limits.numPrompts} ${label} requests completed${failureHint(result)}.`,
    },
    inputTokensCheck(inputTokens, label, run, limits),
  ];
}

const signed = (n: number) => `${n >= 0 ? '+' : ''}${formatNumber(n)}`;

/**
 * NUM_PROMPTS × (RANDOM_INPUT_LEN + the measured chat frame), within the tolerance. The difference per
 * completed request tells a tokenizer that disagrees with the server (the same on every request) from
 * requests that failed (0 per completed request).
 */
function inputTokensCheck(name: string, label: string, run: BenchRun, limits: BenchLimits): Check {
  const { result, chatFrameTokens: frame } = run;
  const perPrompt = limits.randomInputLen + frame;
  const expected = limits.numPrompts * perPrompt;
  const allowed = (expected * limits.tokenCountTolerancePercent) / 100;
  const passed = atMost(Math.abs(result.total_input_tokens - expected), allowed);
  const expectation =
    `${limits.numPrompts} × (${limits.randomInputLen} + ${frame}-token chat frame) = ${expected}` +
    ` ± ${formatNumber(limits.tokenCountTolerancePercent)} % (${formatNumber(allowed)})`;
  let perRequest = '';
  if (result.completed > 0) {
    const difference = result.total_input_tokens / result.completed - perPrompt;
    const which =
      result.completed === limits.numPrompts ? 'request' : `completed request (${result.completed} completed)`;
    perRequest = `, ${signed(difference)} tokens per ${which}`;
    if (!passed && difference !== 0) {
      perRequest +=
        ": the tool's tokenizer and the server count the prompts differently (is TOKENIZER the served model's?)";
    }
  }
  return {
    name,
    passed,
    value: result.total_input_tokens,
    limit: expected,
    detail: `The ${label} run sent ${result.total_input_tokens} input tokens${passed ? ', as expected:' : '; expected'} ${expectation}${perRequest}.`,
  };
}

/** Both sides send the same seeded prompts to servers of the same model: they count the same tokens. */
function sameInputTokensCheck(runs: BenchRuns): Check {
  const name = 'vllm_bench.same_input_tokens';
  const { baseline, lmcache } = runs;
  if (!baseline || !lmcache) {
    const missing = [!baseline && 'baseline', !lmcache && 'LMCache'].filter(Boolean).join(' and ');
    return {
      name,
      passed: false,
      value: lmcache?.result.total_input_tokens ?? null,
      limit: baseline?.result.total_input_tokens ?? null,
      detail: `No ${missing} result from vllm bench serve to compare.`,
    };
  }
  const [value, limit] = [lmcache.result.total_input_tokens, baseline.result.total_input_tokens];
  if (value === limit) return { name, passed: true, value, limit, detail: `Both runs sent ${value} input tokens.` };
  const why =
    baseline.result.completed !== lmcache.result.completed
      ? `the baseline completed ${baseline.result.completed} requests, LMCache ${lmcache.result.completed}`
      : baseline.chatFrameTokens !== lmcache.chatFrameTokens
        ? `their chat frames are ${baseline.chatFrameTokens} and ${lmcache.chatFrameTokens} tokens`
        : 'the two servers count the same prompts differently';
  return {
    name,
    passed: false,
    value,
    limit,
    detail: `The LMCache run sent ${value} input tokens, the baseline ${limit} (${signed(value - limit)}), for the same seeded prompts: ${why}.`,
  };
}

/**
 * vllm bench saves each failed request's error text, often a Python traceback; its last line
 * (the exception) of the first error usually says why.
 */
function failureHint(result: BenchResult): string {
  const failed = typeof result.failed === 'number' ? ` (${result.failed} failed)` : '';
  const errors = Array.isArray(result.errors) ? result.errors : [];
  const firstError = errors.find((e): e is string => typeof e === 'string' && e.trim() !== '');
  if (!firstError) return failed;
  const lastLine = firstError.trim().split('\n').pop()!.trim();
  return `${failed}; first error: ${truncate(lastLine, 160)}`;
}

function throughputCheck(results: { baseline?: BenchResult; lmcache?: BenchResult }, limits: BenchLimits): Check {
  const name = 'vllm_bench.throughput';
  const { baseline, lmcache } = results;
  const value = lmcache?.total_token_throughput ?? null;
  if (!baseline || !lmcache) {
    const missing = [!baseline && 'baseline', !lmcache && 'LMCache'].filter(Boolean).join(' and ');
    return {
      name,
      passed: false,
      value,
      limit: null,
      detail: `No ${missing} result from vllm bench serve, so throughput cannot be compared.`,
    };
  }
  const base = baseline.total_token_throughput;
  if (base <= 0) {
    // A zero baseline would make any LMCache throughput pass; it means the baseline run did no work.
    return {
      name,
      passed: false,
      value,
      limit: null,
      detail: `The baseline throughput is ${formatNumber(base)} tok/s, so there is nothing to compare LMCache against.`,
    };
  }
  const minimum = base * (1 - limits.maxSlowdownPercent / 100);
  const passed = atLeast(lmcache.total_token_throughput, minimum);
  const ratio = `${formatNumber((lmcache.total_token_throughput / base) * 100)}% of the baseline's ${formatNumber(base)} tok/s`;
  return {
    name,
    passed,
    value: lmcache.total_token_throughput,
    limit: minimum,
    detail: passed
      ? `LMCache reached ${formatNumber(lmcache.total_token_throughput)} tok/s, ${ratio}.`
      : `LMCache reached only ${formatNumber(lmcache.total_token_throughput)} tok/s, ${ratio}, below the allowed ${limits.maxSlowdownPercent}% slowdown (minimum ${formatNumber(minimum)} tok/s).`,
  };
}

/** LMCache's throughput in percent of the baseline's; null when there is no ratio to take. */
export function throughputRatioPercent(runs: BenchRuns): number | null {
  const base = runs.baseline?.result.total_token_throughput;
  const lmcache = runs.lmcache?.result.total_token_throughput;
  return base === undefined || lmcache === undefined || base <= 0 ? null : (100 * lmcache) / base;
}

/**
 * The throughput check of pairs measured in the grey zone, decided by the median ratio. Its value and limit stay
 * in tok/s, as history reads them: the median ratio and the limit applied to the median baseline.
 */
export function medianThroughputCheck(
  pairs: readonly BenchRuns[],
  figure: Figure,
  reasons: readonly string[],
  seconds: readonly number[],
  seed: number,
): Check {
  const ratios = pairs.map((pair) => throughputRatioPercent(pair)!);
  const baseline = median(pairs.map((pair) => pair.baseline!.result.total_token_throughput));
  const samples = summarize(figure, ratios, reasons, seconds, seed);
  const value = (baseline * samples.median) / 100;
  const limit = (baseline * figure.limit) / 100;
  return {
    name: 'vllm_bench.throughput',
    passed: samples.passed,
    value,
    limit,
    detail:
      `LMCache's median throughput ratio is ${formatNumber(samples.median)} % of the baseline's ` +
      `(${samples.passed ? 'at or above' : 'below'} the ${formatNumber(figure.limit)} % limit; ` +
      `${formatNumber(value)} tok/s against the median baseline's ${formatNumber(baseline)}). ${describeSamples(samples)}`,
    samples,
  };
}
