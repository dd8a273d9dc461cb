import type { z } from 'zod';

/** One leaf option of the schema, as the loader and the docs see it. */
export interface ConfigLeaf {
  /** Dotted key, e.g. `kafka.brokers`. */
  readonly key: string;
  /** The `VIGIL_*` variable that overrides it, e.g. `VIGIL_KAFKA_BROKERS`. */
  readonly env: string;
  /** How a value from the environment is parsed before validation. */
  readonly kind: 'string' | 'number' | 'boolean' | 'array' | 'enum';
  readonly defaultValue: unknown;
  readonly description: string;
  readonly allowed?: readonly string[];
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  defaultValue?: unknown;
  entries?: Record<string, string>;
  in?: z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { def: Def }).def;
}

function snake(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** Removes default/optional/prefault wrappers, remembering the default. */
function unwrap(schema: z.ZodType): { inner: z.ZodType; defaultValue: unknown; description: string } {
  let s = schema;
  let defaultValue: unknown = undefined;
  let description = schema.description ?? '';
  for (;;) {
    const d = defOf(s);
    if (d.type === 'default' || d.type === 'prefault') {
      if (defaultValue === undefined) defaultValue = d.defaultValue;
      s = d.innerType as z.ZodType;
    } else if (d.type === 'optional' || d.type === 'nullable' || d.type === 'readonly') {
      s = d.innerType as z.ZodType;
    } else if (d.type === 'pipe') {
      s = d.in as z.ZodType;
    } else {
      break;
    }
    if (!description && s.description) description = s.description;
  }
  return { inner: s, defaultValue, description };
}

/** Lists every leaf option of an object schema, depth first, in declaration order. */
export function configLeaves(schema: z.ZodType, prefix: string[] = []): ConfigLeaf[] {
  const { inner } = unwrap(schema);
  const shape = defOf(inner).shape ?? {};
  const out: ConfigLeaf[] = [];
  for (const [name, child] of Object.entries(shape)) {
    const path = [...prefix, name];
    const u = unwrap(child);
    const t = defOf(u.inner).type;
    if (t === 'object') {
      out.push(...configLeaves(child, path));
      continue;
    }
    const kind: ConfigLeaf['kind'] =
      t === 'number' || t === 'int' ? 'number' : t === 'boolean' ? 'boolean' : t === 'array' ? 'array' : t === 'enum' ? 'enum' : 'string';
    const entries = defOf(u.inner).entries;
    out.push({
      key: path.join('.'),
      env: 'VIGIL_' + path.map(snake).join('_'),
      kind,
      defaultValue: typeof u.defaultValue === 'function' ? (u.defaultValue as () => unknown)() : u.defaultValue,
      description: u.description,
      ...(kind === 'enum' && entries ? { allowed: Object.values(entries) } : {}),
    });
  }
  return out;
}

/** The keys an object at `path` accepts (for "allowed keys" in error messages). */
export function allowedKeysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  let s = unwrap(schema).inner;
  for (const seg of path) {
    const child = defOf(s).shape?.[String(seg)];
    if (!child) return [];
    s = unwrap(child).inner;
  }
  return Object.keys(defOf(s).shape ?? {});
}
