/**
 * A small SVG line chart of one figure over runs, for Markdown pages that show images (CI annotations, job
 * summaries, GitHub): passing runs as dots, failed runs as red crosses, an optional dashed reference line.
 */
import { formatNumber } from '../verification/format.js';

export interface ChartPoint {
  label: string;
  value: number | null;
  failed: boolean;
}

export interface LineChart {
  title: string;
  unit: string;
  points: ChartPoint[];
  reference?: { value: number; label: string };
}

const WIDTH = 720;
const HEIGHT = 360;
const MARGIN = { top: 40, right: 24, bottom: 116, left: 72 };
const PASS_COLOUR = '#2e7d32';
const FAIL_COLOUR = '#c62828';
const LINE_COLOUR = '#1565c0';

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const px = (n: number) => Number(n.toFixed(1));

/** A step of 1, 2, 2.5 or 5 times a power of ten, so tick labels read as round numbers. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10) * power;
}

const TICKS = 4;

/** The y axis from 0 up to a round number above the data (a flat-zero series still gets an axis). */
function yAxis(values: number[]): { top: number; step: number } {
  const max = Math.max(0, ...values);
  if (max === 0) return { top: 1, step: 1 / TICKS };
  const step = niceStep((max * 1.05) / TICKS);
  return { top: step * Math.ceil((max * 1.05) / step), step };
}

export function lineChartSvg(chart: LineChart): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const values = chart.points.map((p) => p.value).filter((v): v is number => v !== null);
  const { top, step } = yAxis(chart.reference ? [...values, chart.reference.value] : values);
  // Inset from both ends so the first and last markers and labels stay clear of the axis and the edge.
  const inset = 24;
  const x = (i: number) =>
    MARGIN.left +
    inset +
    (chart.points.length === 1
      ? (plotWidth - 2 * inset) / 2
      : (i * (plotWidth - 2 * inset)) / (chart.points.length - 1));
  const y = (v: number) => MARGIN.top + plotHeight - (v / top) * plotHeight;
  const unit = chart.unit ? ` (${chart.unit})` : '';

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(chart.title + unit)}</text>`,
  ];
  for (let tick = 0; tick * step <= top * (1 + 1e-9); tick++) {
    const value = tick * step;
    out.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${px(y(value))}" y2="${px(y(value))}" stroke="#e0e0e0"/>`,
      `<text x="${MARGIN.left - 6}" y="${px(y(value) + 4)}" text-anchor="end">${escapeXml(formatNumber(Number(value.toPrecision(3))))}</text>`,
    );
  }
  out.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#616161"/>`,
  );

  if (chart.reference) {
    const ry = px(y(chart.reference.value));
    out.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${ry}" y2="${ry}" stroke="#757575" stroke-dasharray="6 4"/>`,
      `<text x="${WIDTH - MARGIN.right}" y="${px(ry - 5)}" text-anchor="end" fill="#616161">${escapeXml(chart.reference.label)}</text>`,
    );
  }

  const drawn = chart.points.map((p, i) => ({ ...p, i })).filter((p) => p.value !== null);
  if (drawn.length > 1) {
    out.push(
      `<polyline fill="none" stroke="${LINE_COLOUR}" stroke-width="2" points="${drawn.map((p) => `${px(x(p.i))},${px(y(p.value!))}`).join(' ')}"/>`,
    );
  }
  for (const p of drawn) {
    const cx = px(x(p.i));
    const cy = px(y(p.value!));
    const tip = `<title>${escapeXml(`${p.label}: ${formatNumber(p.value!)}${chart.unit ? ` ${chart.unit}` : ''}${p.failed ? ' (failed)' : ''}`)}</title>`;
    out.push(
      p.failed
        ? `<path d="M${cx - 6},${cy - 6}L${cx + 6},${cy + 6}M${cx - 6},${cy + 6}L${cx + 6},${cy - 6}" stroke="${FAIL_COLOUR}" stroke-width="3">${tip}</path>`
        : `<circle cx="${cx}" cy="${cy}" r="5" fill="${PASS_COLOUR}">${tip}</circle>`,
    );
  }
  chart.points.forEach((p, i) => {
    const label = p.label.length > 26 ? `${p.label.slice(0, 25)}…` : p.label;
    const lx = px(x(i));
    const ly = MARGIN.top + plotHeight + 14;
    out.push(
      `<text x="${lx}" y="${ly}" text-anchor="end" transform="rotate(-35 ${lx} ${ly})"${p.failed ? ` fill="${FAIL_COLOUR}"` : ''}>${escapeXml(label)}</text>`,
    );
  });
  out.push(
    `<circle cx="${MARGIN.left + 8}" cy="${HEIGHT - 12}" r="5" fill="${PASS_COLOUR}"/>`,
    `<text x="${MARGIN.left + 18}" y="${HEIGHT - 8}">passed</text>`,
    `<path d="M${MARGIN.left + 82},${HEIGHT - 18}L${MARGIN.left + 94},${HEIGHT - 6}M${MARGIN.left + 82},${HEIGHT - 6}L${MARGIN.left + 94},${HEIGHT - 18}" stroke="${FAIL_COLOUR}" stroke-width="3"/>`,
    `<text x="${MARGIN.left + 102}" y="${HEIGHT - 8}">failed</text>`,
    '</svg>',
    '',
  );
  return out.join('\n');
}
