/** An upstream tool's output could not be read; the message names the source and what was wrong. */
export class OutputParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputParseError';
  }
}
