/** Where commands write; tests swap it to capture output. */
export const out = {
  write(text: string): void {
    process.stdout.write(text);
  },
};

export function printJson(value: unknown): void {
  out.write(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v), 2) + '\n');
}

export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/**
 * The "Examples:" section of a command's `--help` (`cmd.addHelpText('after', examples(…))`):
 * every command shows at least one `vigil …` line, and a test walks the whole tree for it.
 */
export function examples(...lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/** Write options of a command with `--force`: a file that exists is refused, naming the option that replaces it. */
export function forceOption(force: boolean | undefined): { overwrite: boolean; overwriteHint: string } {
  return { overwrite: force === true, overwriteHint: 'pass --force' };
}
