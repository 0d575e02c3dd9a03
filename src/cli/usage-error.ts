/** A command line the CLI cannot make sense of: main() prints it with a pointer to --help and exits 2. */
export class UsageError extends Error {}
