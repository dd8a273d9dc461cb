import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { LinkEmulator, type LinkShape } from './link-emulator';
import { until } from './until';

/** A loopback server on a free port: echoes what it gets (`echo`) or only keeps it (`sink`). */
function server(kind: 'echo' | 'sink'): Promise<{ server: Server; port: number; received: Buffer[] }> {
  const received: Buffer[] = [];
  const s = createServer((c) => {
    c.on('error', () => undefined);
    c.on('data', (d: Buffer) => (kind === 'echo' ? c.write(d) : received.push(d)));
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve({ server: s, port: (s.address() as { port: number }).port, received })));
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = connect({ port, host: '127.0.0.1' }, () => resolve(c));
    c.once('error', reject);
  });
}

/** Sends `text` and waits for it to come back; resolves the round trip in ms. */
function ping(c: Socket, text: string): Promise<number> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.length >= text.length) {
        c.off('data', onData);
        resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    c.on('data', onData);
    c.write(text);
  });
}

/** Resolves how the socket ended: `'closed'` (reset or closed by the far side) or `'silent'` after `ms` with nothing received. */
function outcome(c: Socket, ms: number): Promise<'closed' | 'data' | 'silent'> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('silent'), ms);
    c.once('data', () => (clearTimeout(t), resolve('data')));
    c.once('close', () => (clearTimeout(t), resolve('closed')));
  });
}

describe('LinkEmulator', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function rig(kind: 'echo' | 'sink', shape: LinkShape, whileDown: 'refuse' | 'hang' = 'refuse'): Promise<{ link: LinkEmulator; received: Buffer[] }> {
    const target = await server(kind);
    cleanup.push(() => new Promise((r) => target.server.close(r)));
    const link = await LinkEmulator.start(target.port, shape, { whileDown });
    cleanup.push(() => link.close());
    return { link, received: target.received };
  }

  it('adds its one-way latency in each direction: a round trip takes at least twice it, and not much more', async () => {
    const { link } = await rig('echo', { latencyMs: 150 });
    const c = await dial(link.port);
    cleanup.push(() => c.destroy());
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) rtts.push(await ping(c, `ping ${i}`));
    // Never early (timers never fire before their time); late only by scheduling, so the best of five is close.
    for (const rtt of rtts) expect(rtt).toBeGreaterThanOrEqual(299);
    expect(Math.min(...rtts)).toBeLessThan(300 + 250);
    expect(link.bytes('up')).toBe(5 * 'ping 0'.length);
    expect(link.bytes('down')).toBe(link.bytes('up'));
  });

  it('caps each direction at its bytes/s by queueing: 200 KB take their time, all arrive, in order, none dropped', async () => {
    const rate = 64_000;
    const { link, received } = await rig('sink', { bytesPerSecond: rate });
    const c = await dial(link.port);
    cleanup.push(() => c.destroy());
    const data = randomBytes(200_000);
    const t0 = Date.now();
    c.write(data);
    await until(() => received.reduce((n, b) => n + b.length, 0) >= data.length, 30_000, '200 KB through the link');
    const seconds = (Date.now() - t0) / 1000;
    expect(Buffer.concat(received).equals(data)).toBe(true);
    // 200,000 / 64,000 = 3.1 s: not faster than the cap (the serialiser has no burst), and within a loaded machine's slack of it.
    expect(seconds).toBeGreaterThanOrEqual(200_000 / rate - 0.05);
    expect(seconds).toBeLessThan(200_000 / rate + 3);
    // (No per-second peak is asserted: a timer made late by a loaded machine delivers what fell due
    // meanwhile at once, so a 1 s window can see more than 1 s of bytes; the elapsed time above is the cap.)
    expect(link.bytes('up')).toBe(data.length);
  });

  it('a blackout drops the connections and refuses new ones; the link then works again', async () => {
    const { link } = await rig('echo', {});
    const before = await dial(link.port);
    cleanup.push(() => before.destroy());
    expect(await ping(before, 'hello')).toBeGreaterThan(0);
    const dropped = outcome(before, 5000);
    const over = link.blackout(400);
    expect(await dropped).toBe('closed');
    expect(link.isUp).toBe(false);
    // During it: accepted and closed at once, nothing forwarded.
    const during = await dial(link.port);
    cleanup.push(() => during.destroy());
    during.write('anyone?');
    expect(await outcome(during, 5000)).toBe('closed');
    await over;
    expect(link.isUp).toBe(true);
    const after = await dial(link.port);
    cleanup.push(() => after.destroy());
    expect(await ping(after, 'back')).toBeGreaterThan(0);
    expect(link.stats).toMatchObject({ cuts: 1, refused: 1, connections: 2 });
  });

  it("'hang' leaves connections made during a blackout without an answer, then drops them when the link returns", async () => {
    const { link } = await rig('echo', {}, 'hang');
    link.cut();
    const during = await dial(link.port);
    cleanup.push(() => during.destroy());
    during.write('anyone?');
    expect(await outcome(during, 300)).toBe('silent');
    const closed = outcome(during, 5000);
    link.restore();
    expect(await closed).toBe('closed');
    const after = await dial(link.port);
    cleanup.push(() => after.destroy());
    expect(await ping(after, 'back')).toBeGreaterThan(0);
  });

  it('runs a schedule of blackouts', async () => {
    const { link } = await rig('echo', {});
    const states: boolean[] = [];
    const done = link.schedule([
      { atMs: 100, forMs: 300 },
      { atMs: 700, forMs: 300 },
    ]);
    const sampler = setInterval(() => states.push(link.isUp), 20);
    await done;
    clearInterval(sampler);
    states.push(link.isUp);
    expect(link.isUp).toBe(true);
    expect(link.stats.cuts).toBe(2);
    // up, down, up, down, up: two blackouts seen.
    const changes = states.filter((s, i) => i === 0 || s !== states[i - 1]);
    expect(changes).toEqual([true, false, true, false, true]);
  });
});
