/**
 * A command line the CLI cannot make sense of (or a config value it cannot use): main() prints it with a
 * pointer to --help (or `hint`) and exits 2.
 */
export class UsageError extends Error {
  readonly hint: string | undefined;

  constructor(message: string, hint?: string) {
    super(message);
    this.hint = hint;
  }
}
