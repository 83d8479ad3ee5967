/** GPU selection rules of the reference suite, over the text nvidia-smi prints. */
import { OutputParseError } from './errors.js';
import { truncate } from './py-json.js';

export interface GpuStatus {
  index: number;
  freeMib: number;
  utilizationPercent: number;
}

const INTEGER = /^\d+$/;

/** Parses `nvidia-smi --query-gpu=memory.free,utilization.gpu,index --format=csv,noheader,nounits`. */
export function parseGpuQuery(csv: string): GpuStatus[] {
  return csv
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line, i) => {
      const cells = line.split(',').map((cell) => cell.trim());
      // A value such as "[N/A]" (e.g. MIG devices) cannot be held to the rule, so it is an error, not a guess.
      if (cells.length !== 3 || !cells.every((cell) => INTEGER.test(cell))) {
        throw new OutputParseError(
          `nvidia-smi GPU query line ${i + 1}: expected "free MiB, utilization %, index" as integers, got ${JSON.stringify(truncate(line, 120))}`,
        );
      }
      const [freeMib, utilizationPercent, index] = cells.map(Number) as [number, number, number];
      return { index, freeMib, utilizationPercent };
    });
}

export interface GpuRule {
  minFreeMib: number;
  maxUtilizationPercent: number;
  count: number;
}

/** The reference rule: free >= minFreeMib and utilization <= maxUtilizationPercent, most free first, take `count`. undefined while fewer qualify. */
export function selectGpus(gpus: GpuStatus[], rule: GpuRule): number[] | undefined {
  const eligible = rankGpus(gpus, rule);
  return eligible.length < rule.count ? undefined : eligible.slice(0, rule.count);
}

/** Every GPU that qualifies by the reference rule, most free first: the order in which leases take them. */
export function rankGpus(gpus: GpuStatus[], rule: Omit<GpuRule, 'count'>): number[] {
  return (
    gpus
      .filter((gpu) => gpu.freeMib >= rule.minFreeMib && gpu.utilizationPercent <= rule.maxUtilizationPercent)
      // Equal free memory falls back to the lower index, so the same node state always picks the same GPUs.
      .sort((a, b) => b.freeMib - a.freeMib || a.index - b.index)
      .map((gpu) => gpu.index)
  );
}

/** Parses `nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits -i N`. */
export function parseTotalMemoryMib(csv: string): number {
  const lines = csv
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (lines.length !== 1 || !INTEGER.test(lines[0]!)) {
    throw new OutputParseError(
      `nvidia-smi total memory query: expected one integer (MiB) for one GPU, got ${JSON.stringify(truncate(csv.trim(), 120))}`,
    );
  }
  return Number(lines[0]);
}

/**
 * `--gpu-memory-utilization 0.5` for both vLLM servers when the LMCache GPU is large; undefined keeps vLLM's
 * default. Compared as upstream's launch-containers.sh does: `$((MiB / 1024)) -gt LARGE_GPU_GIB`, integer
 * (floor) division, so with 90 a GPU of 93183 MiB (90 GiB) keeps the default and one of 93184 MiB (91) does not.
 */
export function gpuMemoryUtilizationFor(totalMib: number, largeGpuGib: number): number | undefined {
  return Math.floor(totalMib / 1024) > largeGpuGib ? 0.5 : undefined;
}
