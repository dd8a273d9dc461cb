/* global process */
// An independent CoT receiver for the TAK test: a TCP listener (a TAK server's streaming
// input) that parses every event with @tak-ps/node-cot — the CoT library behind CloudTAK,
// which validates against the TAK schema — and prints each as one JSON line on stdout.
// Invalid events are printed as {"invalid": "<reason>"}. First line: {"port": N}.
import { createServer } from 'node:net';
import { CoTParser } from '@tak-ps/node-cot';

const port = Number(process.argv[2] ?? 0);
const server = createServer((socket) => {
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buffer += chunk;
    for (let end = buffer.indexOf('</event>'); end >= 0; end = buffer.indexOf('</event>')) {
      const xml = buffer.slice(0, end + '</event>'.length).trim();
      buffer = buffer.slice(end + '</event>'.length);
      try {
        const cot = CoTParser.from_xml(xml);
        const a = cot.raw.event._attributes;
        const p = cot.raw.event.point._attributes;
        const d = cot.raw.event.detail ?? {};
        process.stdout.write(JSON.stringify({ uid: a.uid, type: a.type, how: a.how, time: a.time, start: a.start, stale: a.stale, lat: p.lat, lon: p.lon, ce: p.ce, callsign: d.contact?._attributes?.callsign, remarks: d.remarks?._text, label: d.__vigil?._attributes?.label }) + '\n');
      } catch (err) {
        process.stdout.write(JSON.stringify({ invalid: String(err && err.message) }) + '\n');
      }
    }
  });
  socket.on('error', () => undefined);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
