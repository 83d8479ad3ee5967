/**
 * One-line texts the Temporal UI shows for a run: the static summary given when it starts (profile, model,
 * build id) and, when it ends, its verdict with the key figures. Pure: shared by the workflow and the client.
 */
import { FIGURES, type KeyFigures } from '../history/figures.js';
import { formatNumber } from '../verification/format.js';

export function staticSummary(run: { profile: string; model: string; buildId: string }): string {
  return `LMCache MP test · ${run.profile} · ${run.model} · build ${run.buildId}`;
}

/** `query TTFT (LMCache) 0.0213 s · … `: the figures a run has, in FIGURES order. */
export function figuresLine(figures: KeyFigures): string {
  return FIGURES.filter((spec) => figures[spec.id] !== null)
    .map((spec) => `${spec.title} ${formatNumber(figures[spec.id]!)}${spec.unit ? ` ${spec.unit}` : ''}`)
    .join(' · ');
}

export function verdictLine(verdict: string, figures: KeyFigures, failedStage?: string): string {
  const parts = [
    verdict.replace(/^\w+/, (word) => word.toUpperCase()),
    failedStage ? `failed stage ${failedStage}` : '',
    figuresLine(figures),
  ];
  return parts.filter(Boolean).join(' · ');
}
