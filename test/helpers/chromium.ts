/**
 * Renders a Markdown file to HTML (marked) beside it and loads that page in headless Chromium (Debian's
 * `chromium`), returning every image with the size it loaded at: a broken image has naturalWidth 0.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { marked } from 'marked';

export function chromiumBinary(): string {
  const binary = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
  if (!existsSync(binary))
    throw new Error(
      `chromium not found at ${binary}: run scripts/test.sh integration (it installs it) or set CHROMIUM_BIN`,
    );
  return binary;
}

export interface LoadedImage {
  src: string;
  alt: string;
  naturalWidth: number;
}

// After every image settled, the page writes what it saw into the DOM for --dump-dom to print.
const RECORD_IMAGES = `
window.addEventListener('load', () => {
  const images = [...document.images].map((img) => ({ src: img.getAttribute('src'), alt: img.alt, naturalWidth: img.naturalWidth }));
  const out = document.createElement('pre');
  out.id = 'loaded-images';
  out.textContent = JSON.stringify(images);
  document.body.appendChild(out);
});`;

export async function imagesOfRenderedMarkdown(markdownFile: string): Promise<LoadedImage[]> {
  const html = [
    '<!doctype html><html><head><meta charset="utf-8"><title>render</title></head><body>',
    await marked.parse(await readFile(markdownFile, 'utf8')),
    `<script>${RECORD_IMAGES}</script>`,
    '</body></html>',
  ].join('\n');
  // Beside the Markdown, so its relative image paths resolve as they do on a CI page.
  const page = `${markdownFile}.render.html`;
  await writeFile(page, html);
  const profile = await mkdtemp(path.join(tmpdir(), 'chromium-profile-'));
  try {
    const result = await execa(
      chromiumBinary(),
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        '--virtual-time-budget=10000',
        '--dump-dom',
        pathToFileURL(page).href,
      ],
      { timeout: 60_000 },
    );
    const match = /<pre id="loaded-images">([\s\S]*?)<\/pre>/.exec(result.stdout);
    if (!match)
      throw new Error(
        `the page did not record its images; chromium printed:\n${result.stdout.slice(0, 2000)}\n${result.stderr.slice(0, 2000)}`,
      );
    return JSON.parse(
      match[1]!
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&'),
    ) as LoadedImage[];
  } finally {
    await rm(profile, { recursive: true, force: true });
    await rm(page, { force: true });
  }
}
