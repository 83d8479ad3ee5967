/**
 * A small strict argv parser for the builtin drivers. They are called with the upstream tools' argument
 * lists, so an option we do not implement must be refused loudly (exit 2) rather than ignored: a silently
 * dropped knob would make a builtin run measure something other than the upstream run it stands in for.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface OptionSpec {
  /** A flag takes no value (argparse's store_true). */
  readonly flag?: boolean;
  readonly help: string;
}

/** Keyed by the option name without its leading dashes, e.g. `port` for `--port`. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

const INT = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const INFINITY = /^[+]?inf(inity)?$/i;

export class ParsedArgs {
  constructor(private readonly values: ReadonlyMap<string, string | true>) {}

  flag(name: string): boolean {
    return this.values.get(name) === true;
  }

  optionalString(name: string): string | undefined {
    const value = this.values.get(name);
    return typeof value === 'string' ? value : undefined;
  }

  string(name: string, fallback?: string): string {
    const value = this.optionalString(name) ?? fallback;
    if (value === undefined) throw new UsageError(`the following argument is required: --${name}`);
    return value;
  }

  optionalInt(name: string, min = Number.MIN_SAFE_INTEGER): number | undefined {
    const raw = this.optionalString(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!INT.test(raw) || !Number.isSafeInteger(value)) {
      throw new UsageError(`argument --${name}: invalid int value: '${raw}'`);
    }
    if (value < min) throw new UsageError(`argument --${name}: must be >= ${min}, got ${value}`);
    return value;
  }

  int(name: string, fallback: number | undefined, min?: number): number {
    const value = this.optionalInt(name, min) ?? fallback;
    if (value === undefined) throw new UsageError(`the following argument is required: --${name}`);
    return value;
  }

  /** Python's float(): accepts `inf` as well as decimal and exponent forms. */
  float(name: string, fallback: number): number {
    return this.optionalFloat(name) ?? fallback;
  }

  optionalFloat(name: string): number | undefined {
    const raw = this.optionalString(name);
    if (raw === undefined) return undefined;
    if (INFINITY.test(raw)) return Number.POSITIVE_INFINITY;
    if (!FLOAT.test(raw)) throw new UsageError(`argument --${name}: invalid float value: '${raw}'`);
    return Number(raw);
  }

  choice<T extends string>(name: string, choices: readonly T[], fallback?: T): T {
    const value = this.optionalString(name) ?? fallback;
    if (value === undefined) throw new UsageError(`the following argument is required: --${name}`);
    if (!(choices as readonly string[]).includes(value)) {
      throw new UsageError(`argument --${name}: invalid choice: '${value}' (choose from ${choices.join(', ')})`);
    }
    return value as T;
  }
}

/** Accepts `--name value` and `--name=value`; a repeated option keeps its last value, as argparse does. */
export function parseArgs(argv: readonly string[], table: OptionTable): ParsedArgs {
  const values = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') throw new UsageError(`unrecognized argument: '${arg}'`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = Object.hasOwn(table, name) ? table[name] : undefined;
    if (spec === undefined) throw new UsageError(`unrecognized argument: '--${name}'`);
    if (spec.flag) {
      if (eq >= 0) throw new UsageError(`argument --${name}: ignored explicit argument '${arg.slice(eq + 1)}'`);
      values.set(name, true);
    } else if (eq >= 0) {
      values.set(name, arg.slice(eq + 1));
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--'))
        throw new UsageError(`argument --${name}: expected one argument`);
      values.set(name, next);
      i++;
    }
  }
  return new ParsedArgs(values);
}

export function usage(program: string, summary: string, table: OptionTable): string {
  const lines = Object.entries(table).map(([name, spec]) => {
    const option = spec.flag ? `--${name}` : `--${name} ${name.toUpperCase().replaceAll('-', '_')}`;
    return `  ${option.padEnd(44)} ${spec.help}`;
  });
  return `usage: ${program} [options]\n\n${summary}\n\noptions:\n${lines.join('\n')}\n`;
}
