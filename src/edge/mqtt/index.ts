/**
 * edge/mqtt: the gateway's MQTT 5 ingest connection on `mqtt-packet` (docs/architecture.md §4, §7):
 * pipelined QoS1 delivery, acknowledgements after durability with PUBACKs in receive order,
 * Receive Maximum flow control, reconnect with backoff.
 */
export { MqttIngestClient, type MqttIngestCloseOptions } from './mqtt-ingest-client';
export { MQTT_INGEST_DEFAULTS, type MqttIngestOptions } from './options';
export type {
  IngestMessage,
  IngestMessageHandler,
  MqttConnectInfo,
  MqttDisconnectInfo,
  MqttIngestCounters,
  MqttIngestEventMap,
  MqttIngestState,
} from './types';
export { AckSequencer } from './ack-sequencer';
export { backoffDelay, type BackoffPolicy } from './backoff';
export { encodePubacks } from './puback-batch';
export { encodePublishQos0 } from './publish-qos0';
export { reasonName } from './reason-codes';
