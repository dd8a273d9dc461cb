import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { VigilConfig } from '../config';
import { readIngestKeyFile, readStreamKeyRing } from '../crypto';
import { isVigilError } from '../errors';
import { readRegistryFile } from '../registry';
import { loadServerTls, loadTlsFiles, mqttCredentials, loadKafkaSasl } from './tls-files';

/** One file (or variable) a configuration names, and whether it is usable: `code` and `message` when it is not. */
export interface ConfigFileCheck {
  readonly key: string;
  readonly what: string;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
}

/**
 * Checks every file a configuration names, as the processes will read them at start: key
 * files (mode 0600, valid keys), the registry, TLS certificates and keys (PEM, key modes),
 * password files and variables (present, one line) — without printing any secret. The
 * sections of every role are checked (a gateway's config also names worker defaults):
 * `roles` narrows it.
 */
export async function checkConfigFiles(cfg: VigilConfig, path: (p: string) => string, roles: ReadonlySet<'gateway' | 'worker' | 'console' | 'kafka' | 'mqtt' | 'http'>): Promise<ConfigFileCheck[]> {
  const out: ConfigFileCheck[] = [];
  const check = async (key: string, what: string, fn: () => unknown): Promise<void> => {
    try {
      await fn();
      out.push({ key, what, ok: true });
    } catch (err) {
      out.push({ key, what, ok: false, code: isVigilError(err) ? err.code : 'VIGIL_E_INTERNAL', message: (err as Error).message });
    }
  };
  if (roles.has('mqtt')) {
    if (cfg.mqtt.tls !== undefined) await check('mqtt.tls', 'CA, certificate and key', () => loadTlsFiles('mqtt.tls', cfg.mqtt.tls as NonNullable<typeof cfg.mqtt.tls>, path));
    if (cfg.mqtt.username !== undefined) await check('mqtt.passwordFile/passwordEnv', 'MQTT password', () => mqttCredentials(cfg.mqtt, path));
  }
  if (roles.has('kafka')) {
    if (cfg.kafka.ssl !== undefined) await check('kafka.ssl', 'CA, certificate and key', () => loadTlsFiles('kafka.ssl', cfg.kafka.ssl as NonNullable<typeof cfg.kafka.ssl>, path));
    if (cfg.kafka.sasl !== undefined) await check('kafka.sasl', 'Kafka password', () => loadKafkaSasl(cfg.kafka.sasl as NonNullable<typeof cfg.kafka.sasl>, path));
  }
  if (roles.has('http') && cfg.http.tls !== undefined) await check('http.tls', 'HTTPS certificate and key', () => loadServerTls(cfg.http.tls as NonNullable<typeof cfg.http.tls>, path));
  if (roles.has('gateway')) {
    const g = cfg.gateway;
    await check('gateway.registryFile', 'device registry', () => readRegistryFile(path(g.registryFile)));
    await check('gateway.ingestKeyFile', 'ingest key', () => readIngestKeyFile(path(g.ingestKeyFile)));
    await check('gateway.streamKeyFile', 'telemetry stream key (ring)', () => readStreamKeyRing(path(g.streamKeyFile)));
  }
  if (roles.has('worker')) {
    await check('worker.telemetryKeyFile', 'telemetry stream key (ring)', () => readStreamKeyRing(path(cfg.worker.telemetryKeyFile)));
    const dir = path(cfg.worker.keyDir);
    const derived = existsSync(dir) ? readdirSync(dir).filter((f) => /^derived\..+\.key\.json$/.test(f)) : [];
    const wanted = cfg.worker.pipelines.length > 0 ? cfg.worker.pipelines.map((p) => `derived.${p}.key.json`) : derived;
    if (wanted.length === 0) out.push({ key: 'worker.keyDir', what: 'derived stream keys', ok: false, code: 'VIGIL_E_KEY_FILE_READ', message: `${dir} holds no derived.<pipeline>.key.json` });
    for (const f of wanted) await check(`worker.keyDir`, f, () => readStreamKeyRing(join(dir, f)));
  }
  if (roles.has('console')) {
    const dir = path(cfg.console.keyDir);
    for (const s of cfg.console.streams) await check('console.keyDir', `${s}.key.json`, () => readStreamKeyRing(join(dir, `${s}.key.json`)));
  }
  return out;
}
