/**
 * What a bisect shows people: `bisect.md` (the first bad commit, the last good, every probe with a link to its
 * run, and for a figure a chart along the commits) and the current details in the Temporal UI while it narrows.
 * Pure: the workflow fills the types, the caller writes the files.
 */
import type { ChartFile } from '../history/render.js';
import { lineChartSvg } from '../history/svg-chart.js';
import { median } from '../history/trends.js';
import { formatNumber } from '../verification/format.js';
import {
  describePredicate,
  figureSpec,
  figureText,
  isFigurePredicate,
  predicateCli,
  type FigurePredicate,
  type Predicate,
  type ProbeOutcome,
} from './predicate.js';
import { candidatesLeft, isDone, narrow, type RangeState } from './range.js';

export interface CommitInfo {
  sha: string;
  subject: string;
  author: string;
  /** As git prints it (ISO 8601). */
  date: string;
}

export interface ChildRun {
  workflowId: string;
  runId?: string;
}

/** One commit's probe: a child `lmcacheMpTest` run (more than one when it was repeated near the limit). */
export interface ProbeRecord extends ChildRun {
  commit: CommitInfo;
  /** The candidate's index, oldest first: -1 is the good end, candidates - 1 the bad end. */
  index: number;
  /** 0 while the ends are confirmed, then 1, 2, … */
  round: number;
  outcome: ProbeOutcome;
  /** The figure's samples in the order measured (a check predicate: the check's value); empty when none. */
  figures: number[];
  /** Why the commit was probed again (noise.ts's `repeated`). */
  repeated?: string;
  /** The runs after the first one, when repeated. */
  repeats?: ChildRun[];
  /** judgeProbe's or decideByMedian's reason: shown for an infra probe, whose verdict alone says nothing. */
  reason?: string;
}

export interface BisectResult {
  /** The refs as the user gave them. */
  good: string;
  bad: string;
  predicate: Predicate;
  firstBad?: CommitInfo;
  lastGood?: CommitInfo;
  probes: ProbeRecord[];
  rounds: number;
  /** Commits in good..bad (the bad end included). */
  candidates?: number;
  /** Probes per round. */
  parallelProbes?: number;
  /** Set when the bisect ended without naming the first bad commit for sure: an end that did not behave, maxProbes… */
  stoppedBecause?: string;
}

/** Where the Temporal UI is: `http://127.0.0.1:8233` and `default`; an empty base makes links relative to the UI. */
export interface TemporalUi {
  baseUrl: string;
  namespace: string;
}

/** The UI's page of a run, as scripts/run-mp-test.sh prints it. */
export function temporalUiUrl(ui: TemporalUi, run: ChildRun): string {
  const path = [ui.namespace, 'workflows', run.workflowId, ...(run.runId ? [run.runId] : [])].map(encodeURIComponent);
  return `${ui.baseUrl.replace(/\/+$/, '')}/namespaces/${path.join('/')}`;
}

const shortSha = (commit: CommitInfo) => commit.sha.slice(0, 7);
const VERDICTS: Record<ProbeOutcome, string> = { good: '✅ good', bad: '❌ bad', infra: '⚠️ infra' };
const SUBJECT_CHARS = 60;

/** Commit subjects are free text: one table cell, no HTML, no pipe ending the cell. */
function cellText(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');
}

function commitCell(commit: CommitInfo): string {
  const subject =
    commit.subject.length > SUBJECT_CHARS ? `${commit.subject.slice(0, SUBJECT_CHARS - 1)}…` : commit.subject;
  return `\`${shortSha(commit)}\` ${cellText(subject)}`;
}

function verdictCell(probe: ProbeRecord): string {
  return probe.outcome === 'infra' && probe.reason
    ? `${VERDICTS.infra}: ${cellText(probe.reason)}`
    : VERDICTS[probe.outcome];
}

function figuresCell(probe: ProbeRecord, predicate: Predicate): string {
  const each = probe.figures.map((v) =>
    isFigurePredicate(predicate) ? figureText(predicate.figure, v) : formatNumber(v),
  );
  return each.join(', ') || '—';
}

/** The range as git writes it, its ends by short sha: the good end for lastGood -1. */
function rangeText(range: RangeState, good: CommitInfo, candidates: CommitInfo[]): string {
  const lastGood = range.lastGood < 0 ? good : candidates[range.lastGood]!;
  return `\`${shortSha(lastGood)}..${shortSha(candidates[range.firstBad]!)}\``;
}

/** The probes people read the bisect by: the decided ones, one a commit (its latest), in commit order. */
function decidedByCommit(probes: ProbeRecord[]): ProbeRecord[] {
  const latest = new Map<number, ProbeRecord>();
  for (const probe of probes) if (probe.outcome !== 'infra') latest.set(probe.index, probe);
  return [...latest.values()].sort((a, b) => a.index - b.index);
}

/** Good commits above a bad one: the range kept to the smallest bad, and these need a person's look. */
function nonMonotonic(probes: ProbeRecord[]): ProbeRecord[] {
  const decided = decidedByCommit(probes).filter((p) => p.index >= 0);
  const { nonMonotonic: found } = narrow(
    { lastGood: -1, firstBad: Number.MAX_SAFE_INTEGER },
    decided.map((p) => ({ index: p.index, bad: p.outcome === 'bad' })),
  );
  return decided.filter((p) => found.some((r) => r.index === p.index));
}

const STRIP_WIDTH = 40;

/**
 * The figure along the commits as text, for a reader without images: a bar per commit scaled to the largest
 * value or the limit, the limit as a column of `│`.
 */
function textStrip(predicate: FigurePredicate, points: { probe: ProbeRecord; value: number }[]): string[] {
  const top = Math.max(predicate.limit, ...points.map((p) => p.value));
  const scale = (v: number) => (top > 0 ? Math.round((Math.max(0, v) / top) * STRIP_WIDTH) : 0);
  const limitAt = Math.min(scale(predicate.limit), STRIP_WIDTH);
  const values = points.map((p) => figureText(predicate.figure, p.value));
  const width = Math.max(...values.map((v) => v.length));
  const lines = points.map(({ probe, value }, i) => {
    const cells = Array.from({ length: STRIP_WIDTH + 1 }, (_, c) =>
      c === limitAt ? '│' : c < scale(value) ? '█' : ' ',
    );
    return `${shortSha(probe.commit)}  ${probe.outcome.padEnd(4)}  ${values[i]!.padStart(width)}  ${cells.join('')}`.trimEnd();
  });
  const header = `${predicate.figure} along the commits, oldest first; │ is the limit ${figureText(predicate.figure, predicate.limit)}`;
  return ['```text', header, ...lines, '```'];
}

const CHART_DIR = 'charts';

function figureChart(predicate: FigurePredicate, points: { probe: ProbeRecord; value: number }[]): ChartFile {
  const figure = figureSpec(predicate.figure);
  const svg = lineChartSvg({
    title: `${figure.title} along the commits`,
    unit: figure.unit,
    points: points.map(({ probe, value }) => ({
      label: `${shortSha(probe.commit)} ${probe.commit.subject}`,
      value,
      failed: probe.outcome === 'bad',
    })),
    reference: {
      value: predicate.limit,
      label: `limit ${figureText(predicate.figure, predicate.limit)} (bad when ${predicate.op === '>' ? 'above' : 'below'})`,
    },
  });
  return { file: `${CHART_DIR}/bisect-${figure.chart}.svg`, figure, svg };
}

export interface BisectPage {
  markdown: string;
  /** The figure's chart, for a figure predicate with at least one measured commit; written beside bisect.md. */
  chart?: ChartFile;
}

function commitLine(label: string, commit: CommitInfo): string {
  return `| ${label} | \`${commit.sha}\` | ${cellText(commit.subject)} | ${cellText(commit.author)} | ${commit.date} |`;
}

export function renderBisectMarkdown(result: BisectResult, ui: TemporalUi): BisectPage {
  const { predicate } = result;
  const out = [
    `# Bisect \`${result.good}\`..\`${result.bad}\``,
    '',
    `Predicate: \`${predicateCli(predicate)}\`: ${describePredicate(predicate)}.`,
    '',
  ];
  if (result.stoppedBecause) out.push(`## ⚠️ Stopped: ${cellText(result.stoppedBecause)}`, '');
  else if (result.firstBad) out.push(`## ❌ First bad commit: ${commitCell(result.firstBad)}`, '');
  if (result.firstBad || result.lastGood) {
    out.push('| | commit | subject | author | date |', '| --- | --- | --- | --- | --- |');
    if (result.firstBad)
      out.push(commitLine(result.stoppedBecause ? 'first bad so far' : 'first bad', result.firstBad));
    if (result.lastGood)
      out.push(commitLine(result.stoppedBecause ? 'last good so far' : 'last good', result.lastGood));
    out.push('');
  } else {
    out.push('No first bad commit was named.', '');
  }
  const infra = result.probes.filter((p) => p.outcome === 'infra').length;
  const size = result.candidates !== undefined ? `${result.candidates} candidate commits; ` : '';
  const retried =
    infra > 0
      ? ` ${infra} ${infra === 1 ? 'probe' : 'probes'} could not tell good from bad (infra, never counted as bad).`
      : '';
  out.push(
    `${size}${result.probes.length} probes: the ends confirmed in round 0, then ${result.rounds} rounds of bisection.${retried}`,
    '',
  );

  const against = nonMonotonic(result.probes);
  if (against.length > 0) {
    out.push(
      `⚠️ **Not monotonic**: ${against.map((p) => `\`${shortSha(p.commit)}\``).join(', ')} probed good after an earlier bad ` +
        'commit. The first bad commit is the earliest bad one; a flaky predicate or a fix and a break in the range can do this.',
      '',
    );
  }

  out.push(
    '## Probes',
    '',
    '| commit | round | verdict | figure | repeated | run |',
    '| --- | ---: | --- | ---: | --- | --- |',
  );
  const ordered = [...result.probes].sort((a, b) => a.round - b.round || a.index - b.index);
  for (const probe of ordered) {
    const runs = [probe, ...(probe.repeats ?? [])];
    const links = runs.map((run, i) => `[${i === 0 ? run.workflowId : i + 1}](${temporalUiUrl(ui, run)})`).join(' ');
    out.push(
      `| ${commitCell(probe.commit)} | ${probe.round} | ${verdictCell(probe)} | ${figuresCell(probe, predicate)} | ` +
        `${cellText(probe.repeated ?? '')} | ${links} |`,
    );
  }
  out.push('');

  if (!isFigurePredicate(predicate)) return { markdown: out.join('\n') };
  const points = decidedByCommit(result.probes)
    .filter((p) => p.figures.length > 0)
    .map((probe) => ({ probe, value: median(probe.figures) }));
  if (points.length === 0) return { markdown: [...out, 'No commit had its figure measured.', ''].join('\n') };
  const chart = figureChart(predicate, points);
  out.push(
    `## ${chart.figure.title} along the commits`,
    '',
    `![${chart.figure.title} along the commits; bad commits as red crosses](${chart.file})`,
    '',
    ...textStrip(predicate, points),
    '',
  );
  return { markdown: out.join('\n'), chart };
}

/** What the bisect is doing, for the Temporal UI's current details. */
export interface BisectProgress {
  /** The good end (index -1) and the candidates good..bad, oldest first, the bad end last. */
  good: CommitInfo;
  candidates: CommitInfo[];
  range: RangeState;
  round: number;
  /** Probes started and not yet decided. */
  running: (ChildRun & { index: number })[];
  probes: ProbeRecord[];
  namespace: string;
}

export function renderBisectProgress(progress: BisectProgress): string {
  const { candidates, range, round, running } = progress;
  const left = `${candidatesLeft(range)} of ${candidates.length} commits left: ${rangeText(range, progress.good, candidates)}`;
  const now = round === 0 ? 'confirming the ends' : isDone(range) ? `done after round ${round}` : `round ${round}`;
  const busy = running.length > 0 ? `; ${running.length} ${running.length === 1 ? 'probe' : 'probes'} running` : '';
  // Relative links: the details are shown inside the UI itself.
  const link = (run: ChildRun) =>
    `[${run.workflowId}](${temporalUiUrl({ baseUrl: '', namespace: progress.namespace }, run)})`;
  return [
    `**${now}: ${left}${busy}**`,
    '',
    '| commit | round | verdict | figure | run |',
    '|---|---|---|---|---|',
    ...progress.probes.map(
      (p) =>
        `| ${commitCell(p.commit)} | ${p.round} | ${VERDICTS[p.outcome]} | ${p.figures.map(formatNumber).join(', ') || '—'} | ${link(p)} |`,
    ),
    ...running.map((r) => {
      const commit = r.index < 0 ? progress.good : candidates[r.index]!;
      return `| ${commitCell(commit)} | ${round} | ⏳ running | | ${link(r)} |`;
    }),
  ].join('\n');
}
