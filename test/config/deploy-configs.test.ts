import { join } from 'node:path';
import { loadConfig } from '../../src/config';

describe('shipped configuration files', () => {
  it('deploy/gateway/vigil.yaml is valid', () => {
    const cfg = loadConfig({ file: join(__dirname, '..', '..', 'deploy', 'gateway', 'vigil.yaml'), env: {} });
    expect(cfg.gateway).toMatchObject({ id: 'gw-1', dataDir: '/var/lib/vigil', fsync: 'always' });
    expect(cfg.http.host).toBe('0.0.0.0');
  });
});
