/* global process, document */
/**
 * Drives Debian's Chromium for the browser tests, in a process of its own: puppeteer-core is
 * an ES module, which Jest's module system will not load (Node's own loader does). Reads one
 * JSON command per line on stdin, answers one JSON line per command on stdout:
 *
 *   {"id":1,"op":"open","url":"http://…/map#…","width":1400,"height":860}  → {"id":1,"ok":true,"result":<page id>}
 *   {"id":2,"op":"waitFor","page":1,"fn":"(arg) => …","arg":…,"timeout":30000}
 *   {"id":3,"op":"evaluate","page":1,"fn":"(arg) => …","arg":…}
 *   click / type / mouse / screenshot / errors / close
 *
 * Never downloads a browser: /usr/bin/chromium, with --no-sandbox because CI runs as root.
 * Closing stdin (or SIGTERM) closes the browser and ends the process.
 */
import { createInterface } from 'node:readline';
import puppeteer from 'puppeteer-core';

const browser = await puppeteer.launch({
  executablePath: process.env.VIGIL_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const pages = new Map();
let nextPage = 1;
const reply = (m) => process.stdout.write(JSON.stringify(m) + '\n');
const page = (m) => {
  const p = pages.get(m.page);
  if (!p) throw new Error(`no page ${m.page}`);
  return p.page;
};
const call = (m) => `(${m.fn})(${JSON.stringify(m.arg ?? null)})`;

const ops = {
  open: async (m) => {
    const p = await browser.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    await p.setViewport({ width: m.width ?? 1400, height: m.height ?? 860 });
    await p.goto(m.url);
    const id = nextPage++;
    pages.set(id, { page: p, errors });
    return id;
  },
  evaluate: (m) => page(m).evaluate(call(m)),
  waitFor: async (m) => {
    try {
      await page(m).waitForFunction(call(m), { timeout: m.timeout ?? 30000, polling: 100 });
    } catch (e) {
      // What the page showed when the wait gave up: the reason is usually there.
      const shown = await page(m).evaluate(() => document.body.innerText.replace(/\s+/g, ' ').slice(0, 1500)).catch(() => '?');
      throw new Error(`${e.message}; waiting for ${m.fn} (${JSON.stringify(m.arg ?? null)}); the page shows: ${shown}`, { cause: e });
    }
    return true;
  },
  click: (m) => page(m).click(m.selector),
  type: (m) => page(m).type(m.selector, m.text),
  mouse: (m) => page(m).mouse.move(m.x, m.y),
  screenshot: async (m) => {
    await page(m).screenshot({ path: m.path });
    return true;
  },
  errors: (m) => pages.get(m.page)?.errors ?? [],
  close: async (m) => {
    await page(m).close();
    pages.delete(m.page);
    return true;
  },
};

let quitting = false;
async function quit() {
  if (quitting) return;
  quitting = true;
  await browser.close().catch(() => undefined);
  process.exit(0);
}

createInterface({ input: process.stdin })
  .on('line', async (line) => {
    let m;
    try {
      m = JSON.parse(line);
      const op = ops[m.op];
      if (!op) throw new Error(`unknown op ${m.op}`);
      reply({ id: m.id, ok: true, result: (await op(m)) ?? null });
    } catch (e) {
      reply({ id: m?.id ?? -1, ok: false, error: String(e?.message ?? e) });
    }
  })
  .on('close', () => void quit());
process.on('SIGTERM', () => void quit());
reply({ id: 0, ok: true, result: 'ready' });
