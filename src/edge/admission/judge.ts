import { FrameOpener, type Reading } from '../../codec';
import { generateStreamKey, resolveCryptoBackend } from '../../crypto';
import { isVigilError, type VigilErrorDetails } from '../../errors';
import { MemoryReplayStore } from '../../replay';
import { Admission, type AdmissionOptions, type AdmissionResult } from './admission';

/** The gateway settings a judgement uses, as `Admission` takes them, and the topic the frame would arrive on. */
export type JudgeFrameOptions = Pick<AdmissionOptions, 'registry' | 'ingestKeys' | 'maxClockSkewMs' | 'maxFrameAgeMs' | 'clock' | 'backend'> & {
  /** The MQTT topic the frame would arrive on; its levels must then match the registry. */
  readonly topic?: string;
};

export interface FrameJudgement {
  /** The gateway's own verdict: `Admission.admit` on a fresh gateway. */
  readonly result: AdmissionResult;
  /** The validated readings of an admitted frame. */
  readonly readings?: readonly Reading[];
  /**
   * The decrypted body as msgpack decoded it, when the frame authenticated but was refused
   * for what it says (an invalid reading, a kind the device may not send, too old): shown to
   * an operator holding the keys, never written anywhere by a gateway.
   */
  readonly body?: unknown;
  /** With `body`: the details of the refusal of a reading (`index`, `field`), from the same validation. */
  readonly details?: VigilErrorDetails;
}

/**
 * What a gateway would answer to one frame, for `vigil frame inspect`: the verdict is
 * `Admission.admit` itself, on a gateway with this registry and no replay history, so the
 * tool and the gateway cannot disagree (a missing signature of a device that requires one,
 * an unknown device, a kind it may not send, a clock out of bounds). Only the readings shown
 * afterwards are opened again here.
 */
export function judgeFrame(bytes: Uint8Array, options: JudgeFrameOptions): FrameJudgement {
  const backend = resolveCryptoBackend(options.backend);
  // Records are sealed as the gateway seals them, under a throwaway key, and dropped.
  const streamKey = generateStreamKey('judge-frame');
  const { topic, ...gateway } = options;
  const admission = new Admission({ ...gateway, backend, gatewayId: 'judge-frame', replay: new MemoryReplayStore(), streamKey: () => streamKey });
  try {
    const result = admission.admit(bytes, topic);
    // Only a frame that authenticated (admitted, or refused for good after opening) is opened again.
    if (!result.ok && !result.final) return { result };
    const opener = new FrameOpener({ backend });
    const frame = opener.decode(bytes);
    const shared = admission.sharedKey(frame.deviceId, frame.epoch);
    const signPublicKey = options.registry.get(frame.deviceId)?.keys.get(frame.epoch)?.signPublicKey;
    if (shared === undefined) return { result };
    const open = frame.signature !== null && signPublicKey !== undefined ? { verifier: backend.createVerifier(signPublicKey) } : {};
    if (result.ok) return { result, readings: opener.open(frame, shared, open) };
    const body = opener.openBody(frame, shared, open);
    if (result.code !== 'VIGIL_E_READING_INVALID') return { result, body };
    try {
      opener.open(frame, shared, open);
      return { result, body };
    } catch (err) {
      return { result, body, ...(isVigilError(err) ? { details: err.details } : {}) };
    }
  } finally {
    admission.close();
  }
}
