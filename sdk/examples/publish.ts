/**
 * A device program written against the installed `vigil-device` package: it reads its key
 * file, publishes READINGS power readings to a Vigil gateway's broker, waits until a gateway
 * has confirmed each frame durable, and prints one JSON line per durable frame and its
 * counters at the end. test/device/sdk-package.int.test.ts compiles it (strict) in a project
 * outside the repository and runs it against real Mosquitto and a real gateway.
 *
 *   DEVICE_KEY_FILE=uav-0042.key.json INGEST_PUBLIC_KEY=<base64> THEATRE=north UNIT=recon-3 \
 *   MQTT_URL=mqtt://127.0.0.1:1883 node dist/publish.js
 */
import { DeviceClient, isVigilError, readDeviceKeyFile, type ReadingInput } from 'vigil-device';

function setting(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`set ${name} (see the comment at the top of this file)`);
  return value;
}

async function main(): Promise<void> {
  const readings = Number(process.env.READINGS ?? '10');
  const device = await DeviceClient.connect({
    keys: await readDeviceKeyFile(setting('DEVICE_KEY_FILE')),
    ingestPublicKey: setting('INGEST_PUBLIC_KEY'),
    theatre: setting('THEATRE'),
    unit: setting('UNIT'),
    mqttUrl: setting('MQTT_URL'),
    maxReadingsPerFrame: 4,
    // The device may forget a frame once this runs: a gateway has it in Kafka or its spool.
    onDurable: (seq, count, resent) => console.log(JSON.stringify({ durable: seq.toString(), readings: count, resent })),
  });
  device.on('error', (err) => console.error(isVigilError(err) ? `${err.code}: ${err.message}` : err.message));
  for (let i = 0; i < readings; i++) {
    const reading: ReadingInput = { kind: 'power', batteryPct: 100 - i, voltageV: 24.1 };
    device.send(reading);
  }
  await device.close(); // seals what is pending, waits (bounded) for every durable receipt
  console.log(JSON.stringify({ stats: device.stats() }));
}

main().catch((err: unknown) => {
  console.error(isVigilError(err) ? `${err.code}: ${err.message}` : err);
  process.exitCode = 1;
});
