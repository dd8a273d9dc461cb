import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** What `waitForSelector` uses of the page's document (this project compiles without the DOM library). */
declare const document: { querySelector(selector: string): object | null };

/** A function run in the page: self-contained (it is sent as source), taking one JSON argument. */
export type InPage<A, R> = (arg: A) => R;

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

/**
 * Headless Chromium (Debian's /usr/bin/chromium) for tests, driven with puppeteer-core in a
 * child process (`browser-driver.mjs`): Jest cannot load puppeteer-core, an ES module.
 */
export class Browser {
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private next = 1;
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const r = JSON.parse(line) as Reply;
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async launch(): Promise<Browser> {
    const child = spawn(process.execPath, [join(__dirname, 'browser-driver.mjs')], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stderr: string[] = [];
    child.stderr.on('data', (d: Buffer) => void stderr.push(String(d)));
    const browser = new Browser(child);
    const ready = new Promise<void>((resolve, reject) => {
      browser.waiting.set(0, () => resolve());
      child.once('exit', (code) => reject(new Error(`browser driver exited (${String(code)}): ${stderr.join('').slice(-2000)}`)));
    });
    await ready;
    return browser;
  }

  call(op: string, args: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (r) => (r.ok ? resolve(r.result) : reject(new Error(`${op}: ${r.error ?? 'failed'}`))));
      this.child.stdin.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }

  async open(url: string, viewport = { width: 1400, height: 860 }): Promise<BrowserPage> {
    return new BrowserPage(this, (await this.call('open', { url, ...viewport })) as number);
  }

  /** Closes the browser and its process (SIGKILL to the driver only if it does not end in 10 s). */
  async close(): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export class BrowserPage {
  constructor(
    private readonly browser: Browser,
    readonly id: number,
  ) {}

  evaluate<A, R>(fn: InPage<A, R>, arg?: A): Promise<Awaited<R>> {
    return this.browser.call('evaluate', { page: this.id, fn: fn.toString(), arg }) as Promise<Awaited<R>>;
  }

  /** Resolves when `fn(arg)` is truthy in the page; rejects after `timeoutMs`. */
  async waitFor<A>(fn: InPage<A, unknown>, arg?: A, timeoutMs = 30_000): Promise<void> {
    await this.browser.call('waitFor', { page: this.id, fn: fn.toString(), arg, timeout: timeoutMs });
  }

  async waitForSelector(selector: string, timeoutMs = 30_000): Promise<void> {
    await this.waitFor((s: string) => document.querySelector(s) !== null, selector, timeoutMs);
  }

  async click(selector: string): Promise<void> {
    await this.browser.call('click', { page: this.id, selector });
  }

  async type(selector: string, text: string): Promise<void> {
    await this.browser.call('type', { page: this.id, selector, text });
  }

  async mouse(x: number, y: number): Promise<void> {
    await this.browser.call('mouse', { page: this.id, x, y });
  }

  async screenshot(path: string): Promise<void> {
    await this.browser.call('screenshot', { page: this.id, path });
  }

  /** Uncaught errors of the page's scripts so far. */
  errors(): Promise<string[]> {
    return this.browser.call('errors', { page: this.id }) as Promise<string[]>;
  }

  async close(): Promise<void> {
    await this.browser.call('close', { page: this.id });
  }
}
