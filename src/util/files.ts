/** Writes a set of text files under one directory, making subdirectories as needed; returns their paths. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function writeFiles(dir: string, files: Record<string, string>): Promise<string[]> {
  const written: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    written.push(file);
  }
  return written;
}
