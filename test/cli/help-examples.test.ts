import type { Command } from 'commander';
import { installCliCapture } from './cli-harness';
import { buildProgram } from '../../src/cli/main';

const vigil = installCliCapture();

/** Every command of the tree as the words that name it (`[]` for `vigil` itself). */
function commandPaths(cmd: Command, path: readonly string[] = []): string[][] {
  return [[...path], ...cmd.commands.flatMap((sub) => commandPaths(sub, [...path, sub.name()]))];
}

describe('vigil --help', () => {
  const paths = commandPaths(buildProgram());

  it('walks the whole command tree (so a new command is covered without touching this test)', () => {
    expect(paths.length).toBeGreaterThan(30);
    expect(paths).toContainEqual(['keys', 'retire', 'stream']);
    expect(paths).toContainEqual(['simulate']);
  });

  it.each(paths.map((p) => [p.join(' ') || '(vigil)', p] as const))('%s shows an Examples section with a `vigil …` line of its own', async (_name, path) => {
    const r = await vigil(...path, '--help');
    expect(r.code).toBe(0);
    const section = /\nExamples:\n((?: {2}\$ .+\n)+)/.exec(r.stdout);
    expect(section).not.toBeNull();
    const lines = (section?.[1] ?? '').split('\n').filter((l) => l.length > 0);
    // Each line is a command line (variables may come first); at least one runs this very command.
    for (const l of lines) expect(l).toMatch(/^ {2}\$ (?:[A-Z_]+=\S+ )*vigil /);
    const own = ['vigil', ...path].join(' ');
    expect(lines.some((l) => l.replace(/^ {2}\$ (?:[A-Z_]+=\S+ )*/, '').startsWith(own))).toBe(true);
  });
});
