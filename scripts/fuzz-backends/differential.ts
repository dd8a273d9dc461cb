/**
 * Runs the corpus through two crypto backends and compares their verdicts input by input:
 * a signature accepted or refused, an X25519 shared key (its bytes) or its refusal, a frame
 * opened (to which readings) or refused (with which code). Any difference is a disagreement.
 */
import { FrameOpener } from '../../src/codec';
import type { CryptoBackend, Verifier } from '../../src/crypto';
import { isVigilError } from '../../src/errors';
import { BackendCorpus, type CorpusOptions, type FuzzDevice, type FuzzInput } from './corpus';

/** What one backend made of one input, as a comparable string. */
type Verdict = string;

/** One backend set up as a gateway for the corpus' devices: shared keys and verifiers made once. */
class BackendUnderTest {
  private readonly opener: FrameOpener;
  private readonly keys = new Map<string, Uint8Array>();
  private readonly verifiers = new Map<string, Verifier>();

  constructor(
    readonly backend: CryptoBackend,
    corpus: BackendCorpus,
  ) {
    this.opener = new FrameOpener({ backend });
    for (const d of corpus.devices.values()) {
      this.keys.set(d.deviceId, backend.boxBeforeNm(d.boxPublicKey, corpus.ingest.box.secretKey));
      this.verifiers.set(d.deviceId, backend.createVerifier(d.signPublicKey));
    }
  }

  verdict(input: FuzzInput, devices: ReadonlyMap<string, FuzzDevice>): Verdict {
    try {
      switch (input.op) {
        case 'verify':
          return this.backend.createVerifier(input.publicKey).verify(input.message, input.signature) ? 'accept' : 'reject';
        case 'box':
          return `ok:${Buffer.from(this.backend.boxBeforeNm(input.publicKey, input.secretKey)).toString('hex')}`;
        case 'frame': {
          const frame = this.opener.decode(input.bytes);
          const device = devices.get(frame.deviceId);
          const key = this.keys.get(frame.deviceId);
          if (device === undefined || key === undefined) return 'err:VIGIL_E_DEVICE_UNKNOWN';
          const readings = this.opener.open(frame, key, { verifier: this.verifiers.get(frame.deviceId) as Verifier, requireSignature: device.requireSignature });
          return `ok:${frame.deviceId}:${frame.seq}:${JSON.stringify(readings)}`;
        }
      }
    } catch (err) {
      return isVigilError(err) ? `err:${err.code}` : `threw:${String(err)}`;
    }
  }
}

export interface CategoryCounts {
  inputs: number;
  /** Both accepted (signature valid, key usable, frame opened). */
  accepted: number;
  /** Both refused. */
  rejected: number;
  disagreements: number;
}

export interface DifferentialReport {
  readonly backends: readonly [string, string];
  readonly seed: number;
  readonly inputs: number;
  readonly disagreements: number;
  readonly seconds: number;
  readonly categories: Record<string, CategoryCounts>;
  /** The first few disagreements, in hex, to reproduce them. */
  readonly samples: ReadonlyArray<{ category: string; input: Record<string, string>; verdicts: [Verdict, Verdict] }>;
}

export interface DifferentialOptions {
  readonly inputs: number;
  readonly seed: number;
  readonly backends: readonly [CryptoBackend, CryptoBackend];
  readonly weights?: CorpusOptions['weights'];
  /** Called every `progressEvery` inputs with the report so far. */
  readonly onProgress?: (report: DifferentialReport) => void;
  readonly progressEvery?: number;
}

const hexOf = (input: FuzzInput): Record<string, string> => {
  const out: Record<string, string> = { op: input.op };
  for (const [k, v] of Object.entries(input)) if (v instanceof Uint8Array) out[k] = Buffer.from(v).toString('hex');
  return out;
};

/** Feeds `inputs` corpus inputs to both backends; the report counts verdicts per category. */
export function runDifferential(options: DifferentialOptions): DifferentialReport {
  const t0 = process.hrtime.bigint();
  const corpus = new BackendCorpus({ seed: options.seed, ...(options.weights ? { weights: options.weights } : {}) });
  const [a, b] = options.backends.map((backend) => new BackendUnderTest(backend, corpus)) as [BackendUnderTest, BackendUnderTest];
  const categories: Record<string, CategoryCounts> = {};
  const samples: Array<{ category: string; input: Record<string, string>; verdicts: [Verdict, Verdict] }> = [];
  let disagreements = 0;
  let done = 0;
  const report = (): DifferentialReport => ({
    backends: [a.backend.name, b.backend.name],
    seed: options.seed,
    inputs: done,
    disagreements,
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
    categories,
    samples,
  });
  for (; done < options.inputs; ) {
    const input = corpus.next();
    const va = a.verdict(input, corpus.devices);
    const vb = b.verdict(input, corpus.devices);
    const c = (categories[input.category] ??= { inputs: 0, accepted: 0, rejected: 0, disagreements: 0 });
    c.inputs++;
    if (va !== vb || va.startsWith('threw:')) {
      c.disagreements++;
      disagreements++;
      if (samples.length < 10) samples.push({ category: input.category, input: hexOf(input), verdicts: [va, vb] });
    } else if (va === 'accept' || va.startsWith('ok:')) c.accepted++;
    else c.rejected++;
    done++;
    if (options.onProgress !== undefined && done % (options.progressEvery ?? 100_000) === 0) options.onProgress(report());
  }
  return report();
}
