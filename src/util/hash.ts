/** FNV-1a, 32 bits: a tiny stable hash for names and seeds derived from ids (pure; used by the workflow too). */
export function fnv1a32(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 16777619);
  }
  return hash >>> 0;
}
