/**
 * `vllm bench serve --save-result` throughput check: both runs complete every prompt with the
 * expected input size, and LMCache's total token throughput is within the allowed slowdown of the baseline.
 */
import { OutputParseError } from './errors.js';
import { atLeast, formatNumber } from './format.js';
import { isPlainObject, parsePythonJson, requireFiniteNumbers, truncate } from './py-json.js';
import type { Check } from '../report/types.js';

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
}

const RUNS = [
  { key: 'baseline', label: 'baseline' },
  { key: 'lmcache', label: 'LMCache' },
] as const;

export function verifyBench(results: { baseline?: BenchResult; lmcache?: BenchResult }, limits: BenchLimits): Check[] {
  const checks: Check[] = [];
  for (const { key, label } of RUNS) checks.push(...runChecks(key, label, results[key], limits));
  checks.push(throughputCheck(results, limits));
  return checks;
}

function runChecks(key: string, label: string, result: BenchResult | undefined, limits: BenchLimits): Check[] {
  const expectedTokens = limits.numPrompts * limits.randomInputLen;
  const completed = `vllm_bench.${key}.completed`;
  const inputTokens = `vllm_bench.${key}.total_input_tokens`;
  if (!result) {
    const detail = `No result from the ${label} run of vllm bench serve.`;
    return [
      { name: completed, passed: false, value: null, limit: limits.numPrompts, detail },
      { name: inputTokens, passed: false, value: null, limit: expectedTokens, detail },
    ];
  }
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
    {
      name: inputTokens,
      passed: result.total_input_tokens === expectedTokens,
      value: result.total_input_tokens,
      limit: expectedTokens,
      detail:
        result.total_input_tokens === expectedTokens
          ? `The ${label} run sent ${limits.numPrompts} × ${limits.randomInputLen} input tokens.`
          : `The ${label} run sent ${result.total_input_tokens} input tokens, not ${limits.numPrompts} × ${limits.randomInputLen} = ${expectedTokens}.` +
            nearMissHint(result, limits),
    },
  ];
}

/**
 * Why the token count missed, when the miss is the same on every request: current `vllm bench serve` counts
 * the server's `usage.prompt_tokens`, which include the chat template's tokens around each prompt. Per-request
 * lengths (`input_lens`, with --save-detailed) prove it; otherwise an even split over the completed requests
 * is only consistent with it, and the hint says so.
 */
export function nearMissHint(result: BenchResult, limits: BenchLimits): string {
  const inputLens = Array.isArray(result.input_lens) ? (result.input_lens as unknown[]) : undefined;
  const completedLens = inputLens?.filter((n): n is number => typeof n === 'number' && n > 0);
  let perRequest: number | undefined;
  let proven = false;
  if (completedLens && completedLens.length > 0) {
    const differences = new Set(completedLens.map((n) => n - limits.randomInputLen));
    if (differences.size === 1) [perRequest, proven] = [[...differences][0], true];
  } else if (result.completed > 0) {
    const difference = result.total_input_tokens - result.completed * limits.randomInputLen;
    if (difference % result.completed === 0) perRequest = difference / result.completed;
  }
  if (perRequest === undefined || perRequest === 0) return '';
  const signed = `${perRequest > 0 ? '+' : ''}${perRequest}`;
  const how = proven ? 'Every request was' : `That is consistent with every request being`;
  const cause =
    perRequest > 0
      ? " (as a chat template adds: vllm bench serve counts the server's usage.prompt_tokens, template included)"
      : " (the server counts fewer tokens than the client's tokenizer: is --tokenizer the served model's?)";
  return ` ${how} ${signed} tokens against RANDOM_INPUT_LEN=${limits.randomInputLen}${cause}.`;
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
