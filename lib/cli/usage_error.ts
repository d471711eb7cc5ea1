/** An argument the bridge does not know, or a value it cannot read; `main.ts` prints it and exits 2. */
export class UsageError extends Error {
  constructor(readonly argument: string, expected?: string) {
    super(
      expected === undefined
        ? `unknown argument ${JSON.stringify(argument)}; try --help`
        : `${JSON.stringify(argument)} is invalid: expected ${expected}`,
    );
    this.name = "UsageError";
  }
}
