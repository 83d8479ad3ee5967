/**
 * The simulation's token rule, shared by the sim server and the builtin benchmark drivers so that their
 * counts agree: a token is a maximal run of non-whitespace characters. "Hello,  world!" is 2 tokens.
 */
export function tokenize(text: string): string[] {
  return text.split(/\s+/).filter((word) => word.length > 0);
}

export function countTokens(text: string): number {
  return tokenize(text).length;
}

/** Joins tokens back into text that tokenizes to exactly those tokens. */
export function detokenize(tokens: readonly string[]): string {
  return tokens.join(' ');
}
