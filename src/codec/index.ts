/**
 * codec: the wire format (docs/wire-format.md): frames sensors publish, sealed records in
 * Kafka, readings and classification labels, with strict validation. Every failure is a
 * `VigilError` with a specific code.
 */
export * from './limits';
export {
  READING_KIND_TAGS,
  READING_KINDS,
  POSTURES,
  UGS_DETECTION_TYPES,
  KIND_SPECS,
  type ReadingKind,
  type Posture,
  type UgsDetectionType,
  type Reading,
  type PositionReading,
  type VitalsReading,
  type VehicleReading,
  type UgsReading,
  type PowerReading,
  type MetricReading,
  type FieldSpec,
  type KindSpec,
} from './reading';
export { encodeReading, decodeReading, encodeReadings, decodeReadings, validateReading } from './reading-codec';
export {
  CLASSIFICATION_LEVELS,
  MAX_RELEASABILITY_ENTRIES,
  classificationRank,
  makeLabel,
  validateLabel,
  combineLabels,
  type ClassificationLevel,
  type ClassificationLabel,
} from './label';
export {
  FRAME_VERSION,
  FRAME_SIGNATURE_CONTEXT,
  DEVICE_ID_PATTERN,
  MAX_DEVICE_ID_BYTES,
  MAX_EPOCH,
  type FrameHeader,
  type FrameInput,
  type DecodedFrame,
  type OpenedFrame,
} from './frame';
export { FrameSealer, type FrameCodecOptions, type SealFrameOptions } from './frame-sealer';
export { FrameOpener, type OpenFrameOptions, type SharedKeyLookup } from './frame-opener';
export {
  RECORD_KEY_ID_HEADER,
  RECORD_VERSION,
  RECORD_VERSION_DEFLATE,
  RECORD_TYPE_TAGS,
  type TelemetryRecord,
  type DerivedRecord,
  type DerivedValue,
  type FrameRange,
  type VigilRecord,
  type SealedRecord,
} from './record';
export { RecordCodec, type RecordCodecOptions, type SealRecordOptions } from './record-codec';
export {
  REJECTED_TOPIC,
  encodeRejectionRecord,
  decodeRejectionRecord,
  rejectionKey,
  rejectionMac,
  rejectionMessage,
  openRejectionRecord,
  REJECTION_MAC_HEADER,
  type RejectionMessage,
  type RejectionRecord,
  type RejectedFrameHeader,
} from './rejection-record';
export { RECEIPT_VERSION, MAX_RECEIPT_RANGES, RECEIPT_TOPIC_SUFFIX, sealReceipt, openReceipt, peekReceipt, receiptTopicOf, type Receipt, type SeqRange } from './receipt';
export { formatLabel, parseLabelText } from './label-text';
