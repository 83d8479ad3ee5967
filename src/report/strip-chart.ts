/**
 * A grey-zone figure's samples as a one-line strip chart, for report.md: where each sample fell against the
 * limit, the median and its 90 % interval, on one axis. Plain text in a code block, so it reads anywhere. Pure.
 */
import type { SampleSummary } from '../verification/grey-zone.js';
import { formatNumber } from '../verification/format.js';

const WIDTH = 41;

export function stripChart(summary: SampleSummary): string[] {
  const points = [...summary.values, summary.limit, ...summary.interval];
  let low = Math.min(...points);
  let high = Math.max(...points);
  // A little room either side, and some width when every point is the same value.
  const pad = (high - low) * 0.1 || Math.abs(high) * 0.01 || 1;
  low -= pad;
  high += pad;
  const at = (value: number) => Math.round(((value - low) / (high - low)) * (WIDTH - 1));
  const axis = Array.from({ length: WIDTH }, () => '─');
  const [from, to] = summary.interval.map(at);
  for (let i = from; i <= to; i++) axis[i] = '═';
  axis[at(summary.limit)] = '│';
  const marks = Array.from({ length: WIDTH }, () => ' ');
  for (const value of summary.values) {
    const i = at(value);
    marks[i] = marks[i] === ' ' ? '●' : '◉';
  }
  marks[at(summary.median)] = '▲';
  const unit = summary.unit === '%' ? ' %' : ` ${summary.unit}`;
  return [
    `${summary.figure}: ● sample (◉ several)  ▲ median ${formatNumber(summary.median)}${unit}  ═ 90 % interval  │ limit ${formatNumber(summary.limit)}${unit}`,
    `${formatNumber(low).padStart(8)} ${marks.join('')}`,
    `${' '.repeat(8)} ${axis.join('')} ${formatNumber(high)}`,
  ];
}
