import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { MemoryBus, type BusMessage } from '../../src/bus';
import { startGateway, type RunningGateway } from '../../src/cli/gateway-runner';
import type { PowerReading } from '../../src/codec';
import { writeKeyFile, type DeviceKeys } from '../../src/crypto';
import { openTelemetry, provisionGateway, type GatewayFixture } from '../edge/gateway/gateway-fixture';

const run = promisify(execFile);
const repo = resolve(__dirname, '../..');
const mqttUrl = process.env.VIGIL_MQTT_URL as string;
const tsc = require.resolve('typescript/bin/tsc', { paths: [repo] });
const typesNodeVersion = (JSON.parse(readFileSync(join(repo, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string }).version;
const SERVER_PACKAGES = ['kafkajs', 'rxjs', 'prom-client', 'lmdb', 'aedes', 'pino', 'zod', 'yaml', 'commander'];

/** The environment of a command an integrator types: none of jest's npm or CI broker variables. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm_|VIGIL_)/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

// The device SDK as an integrator gets it: `npm pack` of sdk/, installed into a project
// outside the repository (so nothing resolves from the repo's node_modules), an example
// compiled there with strict tsc and run against real Mosquitto and a real gateway.
describe('vigil-device package (sdk/): pack, install outside the repo, compile, publish to a gateway', () => {
  let tmp: string;
  let fx: GatewayFixture | undefined;
  let gw: RunningGateway | undefined;
  const bus = new MemoryBus();
  afterAll(async () => {
    await gw?.stop();
    await bus.close();
    fx?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('installs without the server dependencies, compiles strict against its types, and its frames are admitted', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'vigil-sdk-pkg-'));
    const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: join(repo, 'sdk'), env: cleanEnv(), timeout: 120_000 });
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const tarball = join(tmp, info?.filename ?? 'missing.tgz');
    expect(info?.files.map((f) => f.path)).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/device-sdk.js', 'dist/device-sdk.d.ts']));

    const app = join(tmp, 'device-app');
    mkdirSync(join(app, 'src'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'device-app', version: '1.0.0', private: true }));
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'node16', moduleResolution: 'node16', strict: true, types: ['node'], outDir: 'dist', rootDir: 'src' }, include: ['src'] }),
    );
    copyFileSync(join(repo, 'sdk/examples/publish.ts'), join(app, 'src/publish.ts'));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `@types/node@${typesNodeVersion}`], { cwd: app, env: cleanEnv(), timeout: 180_000 });
    const installed = readdirSync(join(app, 'node_modules'));
    expect(installed).toEqual(expect.arrayContaining(['vigil-device', 'mqtt', 'tweetnacl', '@msgpack']));
    expect(installed.filter((p) => SERVER_PACKAGES.includes(p))).toEqual([]);

    await run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: app, env: cleanEnv(), timeout: 120_000 });
    // Loading the package outside the repository pulls the MQTT client and codec, nothing of the server.
    const loaded = await run(process.execPath, ['-e', "require('vigil-device'); console.log(JSON.stringify(Object.keys(require.cache)))"], { cwd: app, env: cleanEnv() });
    const files = JSON.parse(loaded.stdout) as string[];
    expect(files.some((f) => f.includes('/node_modules/mqtt/'))).toBe(true);
    expect(files.every((f) => f.startsWith(app))).toBe(true);

    fx = await provisionGateway({ kafkaBrokers: '127.0.0.1:9', mqttUrl, devices: [{ id: 'sdk-dev-1' }] });
    const keyFile = join(fx.dir, 'sdk-dev-1.key.json');
    await writeKeyFile(keyFile, { type: 'device', keys: fx.devices.get('sdk-dev-1') as DeviceKeys });
    gw = await startGateway(fx.config, { bus, http: false, logStream: process.stderr });

    const out = await run(process.execPath, [join(app, 'dist/publish.js')], {
      cwd: app, timeout: 60_000,
      env: cleanEnv({ DEVICE_KEY_FILE: keyFile, INGEST_PUBLIC_KEY: Buffer.from(fx.ingest.box.publicKey).toString('base64'), THEATRE: fx.theatre, UNIT: 'u1', MQTT_URL: mqttUrl, READINGS: '40' }),
    });
    const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { durable?: string; readings?: number; stats?: Record<string, number> });
    const durable = lines.filter((l) => l.durable !== undefined);
    expect(durable.reduce((n, l) => n + (l.readings ?? 0), 0)).toBe(40);
    expect(lines.at(-1)?.stats).toMatchObject({ framesSealed: durable.length, framesAcked: durable.length, readingsAcked: 40, framesDropped: 0, framesRefused: 0 });

    // The gateway admitted every reading into the bus as a sealed telemetry record.
    const topic = bus.broker.topic('telemetry.power');
    const msgs: BusMessage[] = topic ? topic.logs.flatMap((l) => l.read(l.startOffset, l.endOffset - l.startOffset)) : [];
    const readings = openTelemetry(msgs, fx.streamKey, new Set(['sdk-dev-1'])).flatMap((r) => r.readings) as PowerReading[];
    expect(readings.map((r) => r.batteryPct)).toEqual(Array.from({ length: 40 }, (_, i) => 100 - i));
  }, 300_000);
});
