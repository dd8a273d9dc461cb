import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registeredMetricNames } from './registered-metrics';

const RULES = join(__dirname, '..', '..', 'deploy', 'prometheus', 'rules');
const promtool = (...args: string[]): string => execFileSync('promtool', args, { cwd: RULES, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/**
 * deploy/prometheus/rules: promtool (Debian's `prometheus` package, installed by .ci/run)
 * checks the rules and runs their unit tests (vigil.test.yml); every metric a rule reads is
 * one the code registers; every alert has its runbook entry in docs/operations.md.
 */
describe('alert rules', () => {
  const rules = readFileSync(join(RULES, 'vigil.yml'), 'utf8');
  const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1] as string);

  it('pass promtool check rules and their unit tests (promtool test rules)', () => {
    expect(promtool('check', 'rules', 'vigil.yml')).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(promtool('test', 'rules', 'vigil.test.yml')).toContain('SUCCESS');
  });

  it('each alert is tested, has a runbook entry, and reads only metrics the code registers', async () => {
    const tests = readFileSync(join(RULES, 'vigil.test.yml'), 'utf8');
    const runbook = readFileSync(join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
    expect(alerts.length).toBeGreaterThanOrEqual(13);
    for (const a of alerts) {
      expect(tests).toMatch(new RegExp(`alertname: ${a}\\b[\\s\\S]*?exp_labels`));
      expect(runbook).toContain(`<a id="${a.toLowerCase()}"></a>`);
      expect(rules).toContain(`docs/operations.md#${a.toLowerCase()}`);
    }
    const exposed = await registeredMetricNames();
    const used = new Set([...rules.matchAll(/\b(vigil_[a-z_]+)/g)].map((m) => m[1] as string));
    expect(used.size).toBeGreaterThan(8);
    for (const name of used) expect({ name, registered: exposed.has(name) }).toEqual({ name, registered: true });
  });
});
