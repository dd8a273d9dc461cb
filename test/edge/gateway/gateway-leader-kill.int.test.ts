import { startKafkaCluster, type KafkaCluster } from '../../../scripts/services';
import { runLeaderKill } from '../../harness/leader-kill';

const mqttUrl = process.env.VIGIL_MQTT_URL as string;

// docs/architecture.md §4: Kafka is a real cluster in production (RF 3, min.insync.replicas=2,
// acks=all), and the loss of a partition leader under load loses nothing. A gateway takes
// QoS1 frames from six devices while the leader of the busiest telemetry partition is
// SIGKILLed; it is restarted once writes resume. Every frame the gateway acknowledged must
// then be in Kafka, in publish order per device; duplicates are allowed and counted. The
// global setup's Kafka is a single node, so this test runs a 3-node cluster of its own.
describe('gateway while the leader of its busiest partition is SIGKILLed (3-node KRaft cluster)', () => {
  let cluster: KafkaCluster | undefined;

  afterAll(async () => {
    await cluster?.stop();
  });

  it('loses no acknowledged frame and keeps order per device; reports the time writes took to resume', async () => {
    cluster = await startKafkaCluster({ nodes: 3 });
    const report = await runLeaderKill({ cluster, mqttUrl, rounds: 1, log: (l) => process.stderr.write(`[leader-kill] ${l}\n`) });
    process.stderr.write(`[leader-kill] ${JSON.stringify(report)}\n`);

    expect(report.rounds).toHaveLength(1);
    expect(report.frames).toBeGreaterThan(0);
    expect(report.lost).toBe(0);
    expect(report.outOfOrderDevices).toEqual([]);
    // The kill came mid-load: frames kept coming while the partition had no leader.
    expect(report.rounds[0]?.framesMeanwhile).toBeGreaterThan(0);
  }, 600_000);
});
