import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = resolve(__dirname, '../..');
const entry = join(repo, 'src/device-sdk.ts');
interface Manifest {
  main?: string;
  exports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}
const manifest = (path: string): Manifest => JSON.parse(readFileSync(join(repo, path), 'utf8')) as Manifest;
/** What a device must never load: the server's packages. */
const SERVER_PACKAGES = ['kafkajs', 'rxjs', 'prom-client', 'lmdb', 'aedes', 'pino', 'zod', 'yaml', 'ws', 'commander', '@peculiar/x509', '@datadog/sketches-js', 'hdr-histogram-js'];
const packageOf = (file: string): string | undefined => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];

/**
 * Loads the device entry in a fresh node process (through tsx, from the sources the SDK
 * package is compiled from) and reports every package it loaded, and those that Vigil's own
 * files required directly.
 */
async function loadDeviceEntry(): Promise<{ loaded: Set<string>; direct: Set<string> }> {
  const script = `
    require(${JSON.stringify(entry)});
    const src = ${JSON.stringify(join(repo, 'src') + '/')};
    const mods = Object.values(require.cache);
    const direct = mods.filter((m) => m.filename.startsWith(src)).flatMap((m) => m.children.map((c) => c.filename));
    console.log(JSON.stringify({ loaded: mods.map((m) => m.filename), direct }));`;
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('VIGIL_')) delete env[k];
  const { stdout } = await run(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: repo, env, timeout: 60_000 });
  const got = JSON.parse(stdout) as { loaded: string[]; direct: string[] };
  const pkgs = (files: string[]): Set<string> => new Set(files.map(packageOf).filter((p): p is string => p !== undefined));
  return { loaded: pkgs(got.loaded), direct: pkgs(got.direct) };
}

describe('the device entry (vigil/device, and the vigil-device package built from it)', () => {
  it('loads the MQTT client, msgpack and NaCl, and none of the server packages', async () => {
    const { loaded, direct } = await loadDeviceEntry();
    expect([...loaded].filter((p) => SERVER_PACKAGES.includes(p))).toEqual([]);
    expect([...direct].sort()).toEqual(['@msgpack/msgpack', 'mqtt', 'tweetnacl']);
    // Every package Vigil's device code requires is declared by the SDK package (sodium-native, loaded only when chosen, as an optional peer).
    const sdk = manifest('sdk/package.json');
    const declared = new Set([...Object.keys(sdk.dependencies ?? {}), ...Object.keys(sdk.peerDependencies ?? {})]);
    expect([...direct].filter((p) => !declared.has(p))).toEqual([]);
    expect(declared.has('sodium-native')).toBe(true);
  });

  it('the SDK package asks for the same versions of its dependencies as Vigil itself uses', () => {
    const main = manifest('package.json');
    const sdk = manifest('sdk/package.json');
    const mainRanges: Record<string, string> = { ...main.dependencies, ...main.optionalDependencies };
    const sdkRanges: Record<string, string> = { ...sdk.dependencies, ...sdk.peerDependencies };
    for (const [name, range] of Object.entries(sdkRanges)) expect([name, range]).toEqual([name, mainRanges[name]]);
  });

  it('both package manifests point at the file compiled from src/device-sdk.ts, with its types', () => {
    expect(manifest('package.json').exports?.['./device']).toEqual({ types: './dist/src/device-sdk.d.ts', default: './dist/src/device-sdk.js' });
    expect(manifest('sdk/package.json').exports?.['.']).toEqual({ types: './dist/device-sdk.d.ts', default: './dist/device-sdk.js' });
    const tsconfig = readFileSync(join(repo, 'sdk/tsconfig.json'), 'utf8');
    expect(tsconfig).toContain('"files": ["../src/device-sdk.ts"]');
    expect(tsconfig).toContain('"rootDir": "../src"');
  });
});
