import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { VigilError } from '../errors';
import { allowedKeysAt, configLeaves, type ConfigLeaf } from './introspect';
import { configSchema, type VigilConfig } from './schema';

/** Names a config file by itself; it is not a key of the configuration. */
export const CONFIG_FILE_ENV = 'VIGIL_CONFIG';
/** Reserved for benchmark knobs (bench/): never configuration, so never refused as unknown. */
export const BENCH_ENV_PREFIX = 'VIGIL_BENCH_';

export interface LoadConfigOptions {
  /** Path of a YAML or JSON file; falls back to `$VIGIL_CONFIG`; none means defaults + env. */
  readonly file?: string;
  /** Environment to read `VIGIL_*` overrides from; `process.env` by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** One problem found in a configuration, as reported in `VigilError.details.issues`. */
export interface ConfigIssue {
  readonly key: string;
  readonly value: unknown;
  readonly source: string;
  readonly problem: string;
}

const LEAVES: readonly ConfigLeaf[] = configLeaves(configSchema);
const LEAF_BY_ENV = new Map(LEAVES.map((l) => [l.env, l]));

/**
 * Reads the configuration once: file, then `VIGIL_*` overrides, validated by the schema,
 * defaulted and deep-frozen. A bad value throws a `VigilError` naming the key, the value,
 * where it came from and what is allowed.
 *
 * @example
 * const cfg = loadConfig({ file: 'vigil.yaml' });
 * cfg.kafka.brokers; // ['127.0.0.1:9092'] unless the file or VIGIL_KAFKA_BROKERS say otherwise
 */
export function loadConfig(options: LoadConfigOptions = {}): VigilConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env[CONFIG_FILE_ENV];
  const raw: Record<string, unknown> = file ? readConfigFile(file) : {};
  const sources = new Map<string, string>();
  const fileSource = file ? `file ${file}` : 'defaults';

  const unknownEnv: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('VIGIL_') || name === CONFIG_FILE_ENV || name.startsWith(BENCH_ENV_PREFIX) || value === undefined) continue;
    const leaf = LEAF_BY_ENV.get(name);
    if (!leaf) {
      unknownEnv.push(name);
      continue;
    }
    setPath(raw, leaf.key.split('.'), parseEnvValue(leaf, value));
    sources.set(leaf.key, `environment ${name}`);
  }
  if (unknownEnv.length > 0) {
    throw new VigilError(
      'VIGIL_E_CONFIG_UNKNOWN_KEY',
      `unknown configuration variable${unknownEnv.length > 1 ? 's' : ''} ${unknownEnv.join(', ')}; ` +
        `allowed: ${[CONFIG_FILE_ENV, ...LEAVES.map((l) => l.env)].join(', ')}`,
      { details: { variables: unknownEnv } },
    );
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) throw configError(result.error, raw, sources, fileSource);
  return deepFreeze(result.data);
}

/** Every option with its variable, default and meaning (for docs and `vigil config`). */
export function configOptions(): readonly ConfigLeaf[] {
  return LEAVES;
}

/** Reads a YAML or JSON file of plain values (keys given twice and unknown tags refused); `VIGIL_E_CONFIG_READ` when unreadable. Also reads files other modules own (the relay policy). */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new VigilError('VIGIL_E_CONFIG_READ', `cannot read config file ${file}: ${(cause as Error).message}`, {
      details: { file },
      cause,
    });
  }
  let parsed: unknown;
  try {
    parsed = parseConfigText(text, extname(file).toLowerCase() === '.json');
  } catch (cause) {
    throw new VigilError('VIGIL_E_CONFIG_READ', `config file ${file} is not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(cause as Error).message}`, {
      details: { file },
      cause,
    });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new VigilError('VIGIL_E_CONFIG_READ', `config file ${file} must hold a mapping of keys at its top level`, { details: { file } });
  }
  return parsed as Record<string, unknown>;
}

function parseEnvValue(leaf: ConfigLeaf, value: string): unknown {
  const v = value.trim();
  switch (leaf.kind) {
    case 'number':
      // Keep the text when it is not a number so the error shows what was given.
      return v !== '' && Number.isFinite(Number(v)) ? Number(v) : value;
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(v)) return true;
      if (/^(false|0|no|off)$/i.test(v)) return false;
      return value;
    case 'array':
      return v === '' ? [] : v.split(',').map((s) => s.trim());
    default:
      return value;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const seg of path.slice(0, -1)) {
    const next = node[seg];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[seg] = {};
    node = node[seg] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function getPath(target: unknown, path: readonly PropertyKey[]): unknown {
  let node = target;
  for (const seg of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  return node;
}

/** A key that holds a secret (a password given where it must not be): its value is never echoed. */
const SECRET_KEY = /(^|\.)(password|passwd|secret|token|privateKey)$/i;

function redact(key: string, value: unknown): unknown {
  return value !== undefined && SECRET_KEY.test(key) ? '(hidden)' : value;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === '(hidden)') return '(hidden)';
  const s = JSON.stringify(value);
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

function configError(error: z.ZodError, raw: unknown, sources: Map<string, string>, fileSource: string): VigilError {
  const issues: ConfigIssue[] = [];
  let onlyUnknown = true;
  for (const issue of error.issues) {
    const parent = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(configSchema, parent);
      for (const k of issue.keys) {
        const key = [...parent, k].join('.');
        issues.push({
          key,
          value: redact(key, getPath(raw, [...parent, k])),
          source: fileSource,
          problem: `is not a known key; allowed keys${parent.length ? ` under "${parent.join('.')}"` : ''}: ${allowed.join(', ')}`,
        });
      }
      continue;
    }
    onlyUnknown = false;
    // An array element's problem is reported against the array's key.
    const keyPath = parent.filter((p) => !/^\d+$/.test(p));
    const key = keyPath.join('.');
    issues.push({
      key: key || '(top level)',
      value: redact(key, getPath(raw, issue.path)),
      source: sources.get(key) ?? fileSource,
      problem: issue.message,
    });
  }
  const lines = issues.map((i) => `config key "${i.key}" (${i.source}) has value ${show(i.value)}: ${i.problem}`);
  return new VigilError(onlyUnknown ? 'VIGIL_E_CONFIG_UNKNOWN_KEY' : 'VIGIL_E_CONFIG_INVALID', lines.join('\n'), { details: { issues } });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/**
 * JSON or YAML text to a value. Both refuse a key given twice (JSON.parse keeps the last one
 * silently), naming it and its line, and YAML refuses tags it does not know
 * (`!!js/function`, `!custom`) instead of printing a warning.
 */
function parseConfigText(text: string, json: boolean): unknown {
  if (json) JSON.parse(text); // JSON's own syntax errors, in JSON's terms
  const doc = parseDocument(text, { uniqueKeys: true, logLevel: 'silent' });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem === undefined) return doc.toJS();
  const at = problem.linePos?.[0];
  const where = at === undefined ? '' : ` (line ${at.line})`;
  if (problem.code === 'DUPLICATE_KEY') {
    // The position is the second occurrence of the key: its text up to the colon.
    const key = /^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^:#\n]*?)\s*:/.exec(text.slice(problem.pos[0]))?.[1];
    const name = key === undefined ? '' : ` "${key.replace(/^(["'])(.*)\1$/, '$2')}"`;
    throw new Error(`the key${name} is given twice${where}`);
  }
  if (problem.code === 'TAG_RESOLVE_FAILED') {
    throw new Error(`the tag ${text.slice(problem.pos[0], problem.pos[1]).split(/\s/)[0] ?? ''} is not allowed${where}: a configuration holds plain values only`);
  }
  throw new Error(`${(problem.message.split('\n')[0] as string).replace(/ at line \d+, column \d+:?$/, '')}${where}`);
}
