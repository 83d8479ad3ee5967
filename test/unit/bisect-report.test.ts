/** bisect.md, its chart, and the bisect's current details in the Temporal UI. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  renderBisectMarkdown,
  renderBisectProgress,
  temporalUiUrl,
  type BisectResult,
  type CommitInfo,
  type ProbeRecord,
} from '../../src/bisect/report.js';

/** Commit i of the candidates (-1: the good end); shas are distinct in their first 7 characters. */
const commit = (i: number): CommitInfo => ({
  sha: `${String(i + 1).padStart(2, '0')}${'abcdef0123456789'.repeat(3)}`.slice(0, 40),
  subject: i === 7 ? 'Load KV in slices | slower <on purpose>' : `Commit ${i + 1}`,
  author: 'Ada Lovelace <ada@example.com>',
  date: `2026-11-${String(i + 10).padStart(2, '0')}T12:00:00Z`,
});

const probe = (index: number, round: number, outcome: ProbeRecord['outcome'], figures: number[], extra = {}) => ({
  commit: commit(index),
  index,
  round,
  outcome,
  figures,
  workflowId: `bisect-7-probe-${index}-${round}`,
  runId: `run-${index}`,
  ...extra,
});

const ui = { baseUrl: 'http://127.0.0.1:8233/', namespace: 'default' };

/** 12 candidates, commit index 7 slows query TTFT to about the limit: repeated there, and one infra probe. */
const found: BisectResult = {
  good: 'v0.3.0',
  bad: 'main',
  predicate: { figure: 'queryTtft', op: '>', limit: 0.15 },
  firstBad: commit(7),
  lastGood: commit(6),
  candidates: 12,
  rounds: 4,
  probes: [
    probe(-1, 0, 'good', [0.021]),
    probe(11, 0, 'bad', [0.31]),
    probe(5, 1, 'good', [0.022]),
    probe(8, 2, 'bad', [0.3]),
    probe(6, 3, 'infra', [], {
      reason: 'queryTtft was not measured; stage health failed (ServersNotHealthy): never healthy',
    }),
    probe(6, 3, 'good', [0.02]),
    probe(7, 4, 'bad', [0.147, 0.152, 0.155], {
      repeated: 'queryTtft 0.147 s within 5 % of the 0.15 limit; 3 samples (0.147, 0.152, 0.155), median 0.152 s',
      repeats: [{ workflowId: 'bisect-7-probe-7-4-2' }, { workflowId: 'bisect-7-probe-7-4-3', runId: 'r3' }],
    }),
  ],
};

describe('temporalUiUrl', () => {
  it("is the UI's run page, as run-mp-test.sh prints it, with or without the run id", () => {
    assert.equal(
      temporalUiUrl(ui, { workflowId: 'bisect-7', runId: 'abc' }),
      'http://127.0.0.1:8233/namespaces/default/workflows/bisect-7/abc',
    );
    assert.equal(
      temporalUiUrl({ baseUrl: '', namespace: 'ci ns' }, { workflowId: 'a/b' }),
      '/namespaces/ci%20ns/workflows/a%2Fb',
    );
  });
});

describe('renderBisectMarkdown', () => {
  const { markdown, chart } = renderBisectMarkdown(found, ui);
  const lines = markdown.split('\n');

  it('names the first bad and the last good commit in full, and the predicate as typed', () => {
    assert.equal(lines[0], '# Bisect `v0.3.0`..`main`');
    assert.ok(lines.includes("Predicate: `--figure 'queryTtft>0.15'`: bad when Query TTFT (LMCache) is above 0.15 s."));
    assert.ok(
      lines.includes('## ❌ First bad commit: `08abcde` Load KV in slices \\| slower &lt;on purpose&gt;'),
      markdown,
    );
    assert.ok(
      lines.includes(
        `| first bad | \`${commit(7).sha}\` | Load KV in slices \\| slower &lt;on purpose&gt; | Ada Lovelace &lt;ada@example.com&gt; | 2026-11-17T12:00:00Z |`,
      ),
    );
    assert.ok(lines.some((l) => l.startsWith(`| last good | \`${commit(6).sha}\` | Commit 7 |`)));
    assert.ok(
      lines.includes(
        '12 candidate commits; 7 probes: the ends confirmed in round 0, then 4 rounds of bisection. 1 probe could not tell good from bad (infra, never counted as bad).',
      ),
    );
    assert.ok(!markdown.includes('Not monotonic'));
  });

  it('lists every probe in round order with its verdict, figures, why it was repeated and links to each run', () => {
    const rows = lines.filter((l) => /^\| `\d/.test(l));
    assert.deepEqual(
      rows.map((r) => r.split(' | ').slice(0, 4)),
      [
        ['| `00abcde` Commit 0', '0', '✅ good', '0.021 s'],
        ['| `12abcde` Commit 12', '0', '❌ bad', '0.31 s'],
        ['| `06abcde` Commit 6', '1', '✅ good', '0.022 s'],
        ['| `09abcde` Commit 9', '2', '❌ bad', '0.3 s'],
        [
          '| `07abcde` Commit 7',
          '3',
          '⚠️ infra: queryTtft was not measured; stage health failed (ServersNotHealthy): never healthy',
          '—',
        ],
        ['| `07abcde` Commit 7', '3', '✅ good', '0.02 s'],
        ['| `08abcde` Load KV in slices \\| slower &lt;on purpose&gt;', '4', '❌ bad', '0.147 s, 0.152 s, 0.155 s'],
      ],
    );
    assert.ok(
      rows[6]!.endsWith(
        ' | queryTtft 0.147 s within 5 % of the 0.15 limit; 3 samples (0.147, 0.152, 0.155), median 0.152 s | ' +
          '[bisect-7-probe-7-4](http://127.0.0.1:8233/namespaces/default/workflows/bisect-7-probe-7-4/run-7) ' +
          '[2](http://127.0.0.1:8233/namespaces/default/workflows/bisect-7-probe-7-4-2) ' +
          '[3](http://127.0.0.1:8233/namespaces/default/workflows/bisect-7-probe-7-4-3/r3) |',
      ),
      rows[6],
    );
  });

  it('draws the figure along the commits in commit order as text, bad commits said, the limit as a column', () => {
    assert.ok(
      lines.includes(
        '![Query TTFT (LMCache) along the commits; bad commits as red crosses](charts/bisect-query_ttft.svg)',
      ),
    );
    const start = lines.indexOf('```text');
    assert.deepEqual(lines.slice(start, lines.indexOf('```', start + 1) + 1), [
      '```text',
      'queryTtft along the commits, oldest first; │ is the limit 0.15 s',
      '00abcde  good  0.021 s  ███                │',
      '06abcde  good  0.022 s  ███                │',
      '07abcde  good   0.02 s  ███                │',
      '08abcde  bad   0.152 s  ███████████████████│',
      '09abcde  bad     0.3 s  ███████████████████│███████████████████',
      '12abcde  bad    0.31 s  ███████████████████│████████████████████',
      '```',
    ]);
  });

  it('renders an SVG chart with the existing chart code: the bad commits as crosses, the limit drawn', () => {
    assert.ok(chart, 'a chart for a figure predicate');
    assert.equal(chart.file, 'charts/bisect-query_ttft.svg');
    const crosses = [...chart.svg.matchAll(/<title>([^<]*)\(failed\)<\/title><\/path>/g)].map((m) => m[1]);
    assert.deepEqual(crosses, [
      '08abcde Load KV in slices | slower &lt;on purpose&gt;: 0.152 s ',
      '09abcde Commit 9: 0.3 s ',
      '12abcde Commit 12: 0.31 s ',
    ]);
    const dots = [...chart.svg.matchAll(/<circle [^>]*><title>([^<]*)<\/title>/g)].map((m) => m[1]);
    assert.deepEqual(dots, ['00abcde Commit 0: 0.021 s', '06abcde Commit 6: 0.022 s', '07abcde Commit 7: 0.02 s']);
    assert.match(chart.svg, /stroke-dasharray="6 4"\/>\n<text [^>]*>limit 0.15 s \(bad when above\)<\/text>/);
  });

  it('says when the bisect stopped, what it knew, and a good commit above a bad one', () => {
    const stopped = renderBisectMarkdown(
      {
        ...found,
        firstBad: undefined,
        lastGood: undefined,
        stoppedBecause: 'the good end v0.3.0 did not pass: queryTtft 0.31 s > 0.15 → bad',
        probes: [probe(-1, 0, 'bad', [0.31]), probe(11, 0, 'bad', [0.31])],
        rounds: 0,
      },
      ui,
    ).markdown;
    assert.match(
      stopped,
      /\n## ⚠️ Stopped: the good end v0\.3\.0 did not pass: queryTtft 0\.31 s &gt; 0\.15 → bad\n\nNo first bad commit was named\.\n/,
    );
    assert.ok(!stopped.includes('First bad commit'));

    const flaky = renderBisectMarkdown(
      { ...found, probes: [...found.probes, probe(9, 2, 'good', [0.02])] },
      ui,
    ).markdown;
    assert.match(flaky, /⚠️ \*\*Not monotonic\*\*: `10abcde` probed good after an earlier bad commit\./);

    const capped = renderBisectMarkdown({ ...found, stoppedBecause: 'maxProbes 5 reached' }, ui).markdown;
    assert.match(capped, /## ⚠️ Stopped: maxProbes 5 reached\n\n\| \| commit .*\n.*\n\| first bad so far \| `08abcde/);
  });

  it('has no chart for a check predicate, and shows the check values', () => {
    const page = renderBisectMarkdown(
      {
        ...found,
        predicate: { check: 'long_doc_qa.query_ttft_per_prompt' },
        probes: [probe(-1, 0, 'good', [0.021]), probe(11, 0, 'bad', [0.31])],
      },
      ui,
    );
    assert.equal(page.chart, undefined);
    assert.ok(
      page.markdown.includes(
        'Predicate: `--check long_doc_qa.query_ttft_per_prompt`: bad when the check long_doc_qa.query_ttft_per_prompt fails.',
      ),
    );
    assert.ok(page.markdown.includes('| `12abcde` Commit 12 | 0 | ❌ bad | 0.31 | '));
    assert.ok(!page.markdown.includes('```text'));
  });
});

describe('renderBisectProgress', () => {
  const candidates = Array.from({ length: 12 }, (_, i) => commit(i));

  it('shows the narrowing range, the round, and the probes running, linked inside the UI', () => {
    const text = renderBisectProgress({
      good: commit(-1),
      candidates,
      range: { lastGood: 5, firstBad: 8 },
      round: 3,
      running: [{ index: 6, workflowId: 'bisect-7-probe-6-3' }],
      probes: found.probes.slice(0, 4),
      namespace: 'default',
    });
    const lines = text.split('\n');
    assert.equal(lines[0], '**round 3: 3 of 12 commits left: `06abcde..09abcde`; 1 probe running**');
    assert.equal(
      lines[4],
      '| `00abcde` Commit 0 | 0 | ✅ good | 0.021 | [bisect-7-probe--1-0](/namespaces/default/workflows/bisect-7-probe--1-0/run--1) |',
    );
    assert.equal(
      lines.at(-1),
      '| `07abcde` Commit 7 | 3 | ⏳ running | | [bisect-7-probe-6-3](/namespaces/default/workflows/bisect-7-probe-6-3) |',
    );
  });

  it('starts by confirming the ends, from the good end, and says when it is done', () => {
    const first = renderBisectProgress({
      good: commit(-1),
      candidates,
      range: { lastGood: -1, firstBad: 11 },
      round: 0,
      running: [
        { index: -1, workflowId: 'p-good' },
        { index: 11, workflowId: 'p-bad' },
      ],
      probes: [],
      namespace: 'default',
    });
    assert.equal(
      first.split('\n')[0],
      '**confirming the ends: 12 of 12 commits left: `00abcde..12abcde`; 2 probes running**',
    );
    assert.match(first, /\n\| `00abcde` Commit 0 \| 0 \| ⏳ running \| \| \[p-good\]/);
    const done = renderBisectProgress({
      good: commit(-1),
      candidates,
      range: { lastGood: 6, firstBad: 7 },
      round: 4,
      running: [],
      probes: [],
      namespace: 'default',
    });
    assert.equal(done.split('\n')[0], '**done after round 4: 1 of 12 commits left: `07abcde..08abcde`**');
  });
});
