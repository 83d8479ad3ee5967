/**
 * The `lmcacheMpBisect` workflow's input: the two ends, what tells them apart, the run configuration every probe
 * uses, and how the probes are spread and repeated. One validated schema for the workflow and `scripts/bisect.sh`
 * (whose environment variables name the knobs). Pure: the workflow bundle imports it.
 */
import { z } from 'zod';
import { FIGURES, type FigureId } from '../history/figures.js';
import type { Predicate } from '../bisect/predicate.js';
import { InvalidConfigError, type ConfigInput } from './schema.js';

export const BISECT_DEFAULTS = { noisePercent: 5, repeats: 3, maxProbes: 30, infraRetries: 2 };

/** The knobs `scripts/bisect.sh` reads from its environment. */
export const BISECT_ENV = {
  parallelProbes: 'BISECT_PARALLEL_PROBES',
  maxProbes: 'BISECT_MAX_PROBES',
  noisePercent: 'BISECT_NOISE_PERCENT',
  repeats: 'BISECT_REPEATS',
} as const;

const ref = z
  .string()
  .trim()
  .min(1, 'must name a commit, tag or branch')
  .refine((value) => !value.startsWith('-'), 'must not start with "-"');
const figureIds = FIGURES.map((figure) => figure.id) as [FigureId, ...FigureId[]];
const predicate = z.union([
  z.strictObject({
    check: z
      .string()
      .regex(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/, 'must be a check name such as long_doc_qa.query_ttft_per_prompt'),
  }),
  z.strictObject({ figure: z.enum(figureIds), op: z.enum(['>', '<']), limit: z.number().finite() }),
]);

const schema = z.strictObject({
  good: ref,
  bad: ref,
  predicate,
  /** The run configuration for every probe, as `lmcacheMpTest` takes it; LMCACHE_REF is set per probe. */
  config: z.record(z.string(), z.unknown()).default({}),
  /** Probes per round; unset: the number of nodes whose workers poll now, at least 1. */
  parallelProbes: z.number().int().min(1).max(32).optional(),
  maxProbes: z.number().int().min(2).default(BISECT_DEFAULTS.maxProbes),
  noisePercent: z.number().min(0).max(100).default(BISECT_DEFAULTS.noisePercent),
  repeats: z.number().int().min(1).max(15).default(BISECT_DEFAULTS.repeats),
  /** How often a probe that broke for infrastructure reasons (a stage error, not a check) is run again. */
  infraRetries: z.number().int().min(0).max(5).default(BISECT_DEFAULTS.infraRetries),
});

export type BisectInput = z.input<typeof schema>;
export interface BisectSettings extends Omit<z.output<typeof schema>, 'predicate' | 'config'> {
  predicate: Predicate;
  config: ConfigInput;
}

/** Throws InvalidConfigError naming each bad field and its value. */
export function resolveBisectInput(input: unknown): BisectSettings {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new InvalidConfigError(
      parsed.error.issues.map((issue) => {
        const field = issue.path.join('.') || 'input';
        return `${field}: ${issue.message}`;
      }),
    );
  }
  return parsed.data as BisectSettings;
}
