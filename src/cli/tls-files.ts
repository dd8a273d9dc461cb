import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaSaslMechanism, KafkaSaslOptions } from '../bus';
import { VigilError } from '../errors';

/** The `mqtt.tls` and `kafka.ssl` config sections. */
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
  return loadTlsFiles('mqtt.tls', cfg, path);
}

const CERT = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/**
 * Reads one PEM file a config key names: refuses a missing or unreadable file, one that is
 * not the PEM it should be, and a private key that group or others can read, each error
 * naming `<section>.<key>` and the file.
 */
function readPem(section: string, key: string, file: string, path: (p: string) => string, secret: boolean): Buffer {
  const at = path(file);
  let text: Buffer;
  try {
    if (secret && process.platform !== 'win32') {
      const mode = statSync(at).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        throw new VigilError('VIGIL_E_KEY_FILE_PERMISSIONS', `config key "${section}.${key}": ${at} has mode ${mode.toString(8).padStart(4, '0')}; a private key must not be accessible by group or others (chmod 600)`, { details: { key: `${section}.${key}`, path: at } });
      }
    }
    text = readFileSync(at);
  } catch (err) {
    if (err instanceof VigilError) throw err;
    throw new VigilError('VIGIL_E_KEY_FILE_READ', `config key "${section}.${key}": cannot read ${at}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { details: { key: `${section}.${key}`, path: at }, cause: err });
  }
  if (!(secret ? PRIVATE_KEY : CERT).test(text.toString('latin1'))) {
    throw new VigilError('VIGIL_E_KEY_FILE_INVALID', `config key "${section}.${key}": ${at} is not a PEM ${secret ? 'private key' : 'certificate'}`, { details: { key: `${section}.${key}`, path: at } });
  }
  return text;
}

/** `loadMqttTls` for any section (`kafka.ssl`): errors name `<section>.<key>`. */
export function loadTlsFiles(section: string, cfg: MqttTlsConfig, path: (p: string) => string): ConnectionOptions {
  return {
    ca: readPem(section, 'caFile', cfg.caFile, path, false),
    ...(cfg.certFile === undefined ? {} : { cert: readPem(section, 'certFile', cfg.certFile, path, false) }),
    ...(cfg.keyFile === undefined ? {} : { key: readPem(section, 'keyFile', cfg.keyFile, path, true) }),
    ...(cfg.serverName === undefined ? {} : { servername: cfg.serverName }),
  };
}

/** `http.tls`: the HTTPS server's certificate and key, read and checked as every other PEM file. */
export function loadServerTls(cfg: { readonly certFile: string; readonly keyFile: string }, path: (p: string) => string): { cert: Buffer; key: Buffer } {
  return { cert: readPem('http.tls', 'certFile', cfg.certFile, path, false), key: readPem('http.tls', 'keyFile', cfg.keyFile, path, true) };
}

/** `kafka.sasl` as configured: the password comes from a file or an environment variable, never the config. */
export interface KafkaSaslConfig {
  readonly mechanism: KafkaSaslMechanism;
  readonly username: string;
  readonly passwordFile?: string | undefined;
  readonly passwordEnv?: string | undefined;
}

/**
 * The SASL credentials of `kafka.sasl`, the password read from `passwordFile` (mode 0600, one
 * line; a trailing newline is dropped) or the variable `passwordEnv`. Errors name the key and
 * the file or variable, never the password.
 */
export function loadKafkaSasl(cfg: KafkaSaslConfig, path: (p: string) => string, env: NodeJS.ProcessEnv = process.env, section = 'kafka.sasl'): KafkaSaslOptions {
  return { mechanism: cfg.mechanism, username: cfg.username, password: readPassword(section, cfg, path, env, `the Kafka password of ${cfg.username}`) };
}

/**
 * A password a config section names: from `<section>.passwordFile` (mode 0600, one line; a
 * trailing newline is dropped) or the variable `<section>.passwordEnv`. Errors name the key
 * and the file or variable, never the password.
 */
export function readPassword(section: string, cfg: { readonly passwordFile?: string | undefined; readonly passwordEnv?: string | undefined }, path: (p: string) => string, env: NodeJS.ProcessEnv, what: string): string {
  if (cfg.passwordFile !== undefined) {
    const key = `${section}.passwordFile`;
    const at = path(cfg.passwordFile);
    let password: string;
    try {
      const mode = statSync(at).mode & 0o777;
      if ((mode & 0o077) !== 0 && process.platform !== 'win32') {
        throw new VigilError('VIGIL_E_KEY_FILE_PERMISSIONS', `config key "${key}": ${at} has mode ${mode.toString(8).padStart(4, '0')}; a password file must not be accessible by group or others (chmod 600)`, { details: { key, path: at } });
      }
      password = readFileSync(at, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      if (err instanceof VigilError) throw err;
      throw new VigilError('VIGIL_E_KEY_FILE_READ', `config key "${key}": cannot read ${at}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { details: { key, path: at }, cause: err });
    }
    if (password.length === 0 || password.includes('\n')) throw new VigilError('VIGIL_E_KEY_FILE_INVALID', `config key "${key}": ${at} must hold the password on one line`, { details: { key, path: at } });
    return password;
  }
  const key = `${section}.passwordEnv`;
  const name = cfg.passwordEnv as string;
  const v = env[name];
  if (v === undefined || v.length === 0) throw new VigilError('VIGIL_E_CONFIG_INVALID', `config key "${key}": the environment variable ${name} is not set (it must hold ${what})`, { details: { key, variable: name } });
  return v;
}

/** `mqtt.username` with its password (`mqtt.passwordFile` / `mqtt.passwordEnv`), for the MQTT CONNECT. */
export function mqttCredentials(mqtt: { readonly username?: string | undefined; readonly passwordFile?: string | undefined; readonly passwordEnv?: string | undefined }, path: (p: string) => string, env: NodeJS.ProcessEnv = process.env): { username?: string; password?: string } {
  if (mqtt.username === undefined) return {};
  return { username: mqtt.username, password: readPassword('mqtt', mqtt, path, env, `the MQTT password of ${mqtt.username}`) };
}

/**
 * The transport security of a Kafka section (`kafka`, or `relay` for the relay's
 * destination), as `KafkaBus` options (files and the password read now); errors name
 * `<section>.ssl…` / `<section>.sasl…`.
 */
export function kafkaSecurity(kafka: { readonly ssl?: MqttTlsConfig | undefined; readonly sasl?: KafkaSaslConfig | undefined }, path: (p: string) => string, section = 'kafka'): { ssl?: ConnectionOptions; sasl?: KafkaSaslOptions } {
  return {
    ...(kafka.ssl === undefined ? {} : { ssl: loadTlsFiles(`${section}.ssl`, kafka.ssl, path) }),
    ...(kafka.sasl === undefined ? {} : { sasl: loadKafkaSasl(kafka.sasl, path, process.env, `${section}.sasl`) }),
  };
}

/** Resolves a path of a config file's key against the file's folder (the working directory without a file), as the gateway and worker do. */
export function configRelative(configFile: string | undefined): (p: string) => string {
  const base = configBaseDir(configFile);
  return (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
}

/** The folder a config file's relative paths start from: its own (the working directory without a file). */
export function configBaseDir(configFile: string | undefined): string {
  return configFile ? dirname(resolve(configFile)) : process.cwd();
}
