import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { installCliCapture } from './cli-harness';
import { buildProgram } from '../../src/cli/main';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-simulate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const vigil = installCliCapture();

function find(root: Command, ...path: string[]): Command {
  let cmd = root;
  for (const name of path) {
    const next = cmd.commands.find((c) => c.name() === name);
    if (next === undefined) throw new Error(`no command ${path.join(' ')}`);
    cmd = next;
  }
  return cmd;
}

describe('vigil simulate and vigil sim run are one command under two names', () => {
  it('take the same options with the same defaults and descriptions', () => {
    const program = buildProgram();
    const options = (c: Command): unknown[] => c.options.map((o) => [o.flags, o.description, o.defaultValue, o.mandatory]);
    const simulate = find(program, 'simulate');
    const simRun = find(program, 'sim', 'run');
    expect(options(simulate)).toEqual(options(simRun));
    expect(options(simulate).length).toBeGreaterThan(10);
    expect(simulate.description()).toBe(simRun.description());
  });

  it('run the same action: the same refusals, word for word, on a provisioned fleet', async () => {
    const fleet = join(dir, 'fleet');
    const p = await vigil('sim', 'provision', '--dir', fleet, '--vehicles', '1', '--soldiers', '0', '--ugs', '0', '--uavs', '0');
    expect(p.code).toBe(0);
    expect(JSON.parse(p.stdout)).toMatchObject({ devices: 1, created: 1 });
    const cases = [
      // refused after the fleet is read, before any connection
      ['--dir', fleet, '--mqtt-url', 'mqtt://127.0.0.1:1', '--tls-dir', join(dir, 'pki')],
      ['--dir', fleet, '--mqtt-url', 'mqtt://127.0.0.1:1', '--mqtt-username', 'sim'],
      ['--dir', join(dir, 'none'), '--mqtt-url', 'mqtt://127.0.0.1:1'],
      ['--dir', fleet, '--mqtt-url', 'mqtt://127.0.0.1:1', '--speed', 'fast'],
    ];
    for (const args of cases) {
      const a = await vigil('simulate', ...args);
      const b = await vigil('sim', 'run', ...args);
      expect(a.code).toBe(2);
      expect(a.stderr).toMatch(/^vigil: VIGIL_E_(CLI_USAGE|CONFIG_READ): /);
      expect(b).toEqual(a);
    }
  });
});

describe('docs/simulator.md', () => {
  it('documents every option of vigil sim provision and vigil simulate', () => {
    const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'simulator.md'), 'utf8');
    const program = buildProgram();
    for (const cmd of [find(program, 'sim', 'provision'), find(program, 'simulate')]) {
      for (const o of cmd.options) {
        const option = `${cmd.name()} ${o.long ?? o.flags}`;
        expect({ option, documented: doc.includes(`\`${o.long ?? o.flags}`) }).toEqual({ option, documented: true });
      }
    }
  });
});
