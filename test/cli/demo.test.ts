import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runDemo, type RunningDemo } from '../../src/cli/demo/demo';
import { pipelineCatalogue } from '../../src/cli/pipeline-catalogue';

// `vigil demo` as a new user runs it: embedded broker, in-memory bus, every pipeline, the
// simulated fleet; derived records must show in the terminal. How fast is a speed claim
// (about 12 s on an idle machine), checked by hand and in the closing notes, not asserted
// here: jest runs this beside Kafka and other suites on two cores.
describe('vigil demo (embedded, in one process)', () => {
  let dir: string;
  let demo: RunningDemo | undefined;
  afterEach(async () => {
    await demo?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows live derived records from the simulated fleet, and stops cleanly', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-demo-'));
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const t0 = Date.now();
    demo = await runDemo(pipelineCatalogue(), { dir, mqttPort: 0, httpPort: 0, out });
    expect(text).toContain('Vigil demo running');
    expect(text).toMatch(/mqtt +mqtt:\/\/127\.0\.0\.1:\d+ \(embedded aedes/);
    while (![...demo.derivedSeen.values()].some((n) => n > 0) && Date.now() - t0 < 90_000) await new Promise((r) => setTimeout(r, 100));
    expect([...demo.derivedSeen.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // A printed line names a pipeline, a key, a window and values.
    expect(text).toMatch(/^(vitals|unit-picture|geofence|sensor-health|vehicle-anomaly) +\S+ +\d\d:\d\d:\d\d.*=/m);
    const metrics = await (await fetch(`${demo.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/vigil_gateway_frames_total\{result="accepted"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/vigil_pipeline_outputs_total\{pipeline="[a-z-]+"[^}]*\} [1-9]/);
    // The embedded demo writes to its in-process bus, and says so: no sink="kafka".
    expect(metrics).toMatch(/vigil_gateway_durable_frames_total\{sink="memory"[^}]*\} [1-9]/);
    expect(metrics).not.toContain('sink="kafka"');
    expect((await fetch(`${demo.httpUrl}/readyz`)).status).toBe(200);
    await demo.stop();
    demo = undefined;
  }, 120_000);
});
