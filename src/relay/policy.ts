import { z } from 'zod';
import { READING_KINDS, type ClassificationLabel } from '../codec';
import { VigilError } from '../errors';
import { parseLabelText } from '../codec';

/** Priority classes of the relay queue (the gateway spool's). */
export const RELAY_PRIORITIES = ['flash', 'immediate', 'routine'] as const;
export type RelayPriority = (typeof RELAY_PRIORITIES)[number];

const SOURCE = new RegExp(`^(derived\\.[a-z0-9-]{1,64}|telemetry\\.(${READING_KINDS.join('|')}))$`);
const TOPIC = /^[A-Za-z0-9._-]{1,200}$/;
const VALUE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

const label = z.string().transform((text, ctx) => {
  try {
    return parseLabelText(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const streamSchema = z.strictObject({
  source: z.string().regex(SOURCE, { message: `expected a derived stream (derived.<pipeline>) or a telemetry kind (telemetry.<${READING_KINDS.join('|')}>), without kafka.topicPrefix` }),
  destination: z.string().regex(TOPIC, { message: 'expected a Kafka topic name of 1-200 characters of [A-Za-z0-9._-], e.g. theatre.north.derived.vitals' }),
  sourceKeyFile: z.string().min(1, { message: 'expected the path of the theatre stream key file (a ring: any of its keys opens)' }),
  relayKeyFile: z.string().min(1, { message: 'expected the path of the relay key file the destination opens with' }),
  priority: z.enum(RELAY_PRIORITIES).default('routine'),
  alertField: z.string().regex(VALUE_NAME, { message: 'expected a derived value name' }).default('alarm'),
  sample: z
    .strictObject({
      alertsOnly: z.boolean().default(false),
      windowEverySeconds: z.number().int().min(1).max(86_400).optional(),
    })
    .optional(),
  redact: z.array(z.string().regex(VALUE_NAME, { message: 'expected derived value names' })).default([]),
});

export const relayPolicySchema = z
  .strictObject({
    format: z.literal(1, { message: 'expected 1' }),
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { message: 'expected 1-64 characters of [A-Za-z0-9._-]' }),
    destination: z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { message: 'expected 1-64 characters of [A-Za-z0-9._-]' }),
      ceiling: label,
    }),
    streams: z.array(streamSchema).min(1, { message: 'expected at least one stream' }),
  })
  .superRefine((p, ctx) => {
    const sources = new Set<string>();
    const destinations = new Set<string>();
    p.streams.forEach((s, i) => {
      if (sources.has(s.source)) ctx.addIssue({ code: 'custom', path: ['streams', i, 'source'], message: `"${s.source}" is relayed twice` });
      if (destinations.has(s.destination)) ctx.addIssue({ code: 'custom', path: ['streams', i, 'destination'], message: `"${s.destination}" is the destination of two streams` });
      sources.add(s.source);
      destinations.add(s.destination);
      const telemetry = s.source.startsWith('telemetry.');
      if (telemetry && s.redact.length > 0) ctx.addIssue({ code: 'custom', path: ['streams', i, 'redact'], message: 'redaction drops derived values; telemetry records have none' });
      if (telemetry && s.sample !== undefined) ctx.addIssue({ code: 'custom', path: ['streams', i, 'sample'], message: 'down-sampling applies to derived streams only' });
      if (s.sample?.alertsOnly === true && s.sample.windowEverySeconds !== undefined) ctx.addIssue({ code: 'custom', path: ['streams', i, 'sample'], message: 'give alertsOnly or windowEverySeconds, not both' });
    });
  });

/** One relayed stream of a validated policy. */
export interface RelayStreamPolicy {
  readonly source: string;
  readonly destination: string;
  readonly sourceKeyFile: string;
  readonly relayKeyFile: string;
  /** Queue priority of its records; alerts are always flash. */
  readonly priority: RelayPriority;
  /** A derived record whose value of this name is `true` is an alert. */
  readonly alertField: string;
  readonly sample?: { readonly alertsOnly: boolean; readonly windowEverySeconds?: number };
  /** Derived values dropped before release. */
  readonly redact: readonly string[];
}

/** A validated, frozen relay policy. */
export interface RelayPolicy {
  readonly format: 1;
  /** The relay's name: its consumer group on the theatre (`vigil.relay.<name>`). */
  readonly name: string;
  readonly destination: { readonly name: string; readonly ceiling: ClassificationLabel };
  readonly streams: readonly RelayStreamPolicy[];
}

/** `streams.1.ceiling` → `streams[1].ceiling`. */
function entryName(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out === '' ? '(top level)' : out;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw;
  for (const seg of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  return node;
}

function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * Validates a parsed policy document (YAML or JSON). Every problem names the policy entry,
 * the value and what is allowed; nothing can be relayed under a policy that does not pass.
 *
 * @example
 * const policy = parseRelayPolicy(readConfigFile('relay-policy.yaml'), 'relay-policy.yaml');
 * @throws VigilError `VIGIL_E_RELAY_POLICY`
 */
export function parseRelayPolicy(raw: unknown, source = 'relay policy'): RelayPolicy {
  const result = relayPolicySchema.safeParse(raw);
  if (result.success) return deepFreeze(result.data as RelayPolicy);
  const lines: string[] = [];
  const issues: Array<{ entry: string; problem: string }> = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        const entry = entryName([...issue.path, k]);
        issues.push({ entry, problem: 'is not a known key' });
        lines.push(`${source}: "${entry}" is not a known key`);
      }
      continue;
    }
    const entry = entryName(issue.path);
    issues.push({ entry, problem: issue.message });
    lines.push(`${source}: "${entry}" has value ${shown(valueAt(raw, issue.path))}: ${issue.message}`);
  }
  throw new VigilError('VIGIL_E_RELAY_POLICY', lines.join('\n'), { details: { issues } });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
