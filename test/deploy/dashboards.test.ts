import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registeredMetricNames } from './registered-metrics';

const DEPLOY = join(__dirname, '..', '..', 'deploy', 'grafana');

interface Panel {
  readonly title: string;
  readonly datasource?: { readonly uid?: string };
  readonly targets?: ReadonlyArray<{ readonly expr: string; readonly datasource?: { readonly uid?: string } }>;
}

/**
 * deploy/grafana: the provisioned dashboards query only metrics the code registers, through
 * the provisioned datasource, in PromQL that Prometheus parses (each query is checked by
 * `promtool check rules` as a recording rule).
 */
describe('Grafana dashboards', () => {
  const files = readdirSync(join(DEPLOY, 'dashboards')).filter((f) => f.endsWith('.json'));
  const dashboards = files.map((f) => JSON.parse(readFileSync(join(DEPLOY, 'dashboards', f), 'utf8')) as { uid: string; title: string; panels: Panel[] });
  const queries = dashboards.flatMap((d) => d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ dashboard: d.title, panel: p.title, expr: t.expr, uid: t.datasource?.uid ?? p.datasource?.uid }))));

  it('are provisioned: a gateways and a pipelines dashboard, with the datasource they name', () => {
    expect(dashboards.map((d) => d.uid).sort()).toEqual(['vigil-gateways', 'vigil-pipelines']);
    const datasource = readFileSync(join(DEPLOY, 'provisioning', 'datasources', 'prometheus.yml'), 'utf8');
    expect(readFileSync(join(DEPLOY, 'provisioning', 'dashboards', 'vigil.yml'), 'utf8')).toContain('path: /var/lib/grafana/dashboards');
    expect(queries.length).toBeGreaterThanOrEqual(20);
    for (const q of queries) expect({ panel: q.panel, uid: q.uid }).toEqual({ panel: q.panel, uid: 'vigil-prometheus' });
    expect(datasource).toContain('uid: vigil-prometheus');
  });

  it('query only metrics the code registers', async () => {
    const exposed = await registeredMetricNames();
    for (const q of queries) {
      const names = [...q.expr.matchAll(/\b((?:vigil|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1] as string);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect({ panel: q.panel, name, registered: exposed.has(name) }).toEqual({ panel: q.panel, name, registered: true });
    }
  });

  it('are valid PromQL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-dash-'));
    try {
      const rules = ['groups:', '  - name: dashboard-queries', '    rules:', ...queries.flatMap((q, i) => [`      - record: vigil:dashboard_query_${i}`, `        expr: ${JSON.stringify(q.expr)}`])].join('\n');
      writeFileSync(join(dir, 'queries.yml'), `${rules}\n`);
      const out = execFileSync('promtool', ['check', 'rules', 'queries.yml'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      expect(out).toContain(`SUCCESS: ${queries.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
