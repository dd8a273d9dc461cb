import { readFileSync, statSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { VigilError } from '../errors';

/** The `mqtt.tls` config section. */
export interface MqttTlsConfig {
  readonly caFile: string;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly serverName?: string | undefined;
}

/**
 * Reads the files of `mqtt.tls` into Node TLS options. Each failure names the config key and
 * the file: a missing or unreadable file, a file that is not PEM, and a private key that group
 * or others can read (`VIGIL_E_KEY_FILE_PERMISSIONS`, as for every other key file).
 */
export function loadMqttTls(cfg: MqttTlsConfig, path: (p: string) => string): ConnectionOptions {
  const read = (key: string, file: string, what: RegExp, secret: boolean): Buffer => {
    const at = path(file);
    let text: Buffer;
    try {
      if (secret && process.platform !== 'win32') {
        const mode = statSync(at).mode & 0o777;
        if ((mode & 0o077) !== 0) {
          throw new VigilError('VIGIL_E_KEY_FILE_PERMISSIONS', `config key "mqtt.tls.${key}": ${at} has mode ${mode.toString(8).padStart(4, '0')}; a private key must not be accessible by group or others (chmod 600)`, { details: { key: `mqtt.tls.${key}`, path: at } });
        }
      }
      text = readFileSync(at);
    } catch (err) {
      if (err instanceof VigilError) throw err;
      throw new VigilError('VIGIL_E_KEY_FILE_READ', `config key "mqtt.tls.${key}": cannot read ${at}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { details: { key: `mqtt.tls.${key}`, path: at }, cause: err });
    }
    if (!what.test(text.toString('latin1'))) {
      throw new VigilError('VIGIL_E_KEY_FILE_INVALID', `config key "mqtt.tls.${key}": ${at} is not a PEM ${secret ? 'private key' : 'certificate'}`, { details: { key: `mqtt.tls.${key}`, path: at } });
    }
    return text;
  };
  const cert = /-----BEGIN CERTIFICATE-----/;
  return {
    ca: read('caFile', cfg.caFile, cert, false),
    ...(cfg.certFile === undefined ? {} : { cert: read('certFile', cfg.certFile, cert, false) }),
    ...(cfg.keyFile === undefined ? {} : { key: read('keyFile', cfg.keyFile, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, true) }),
    ...(cfg.serverName === undefined ? {} : { servername: cfg.serverName }),
  };
}
