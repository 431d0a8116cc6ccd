/**
 * Real-browser tests: Debian's chromium (over CDP) and firefox-esr (over WebDriver BiDi) driven
 * by playwright-core, and a small static server that sends the cross-origin-isolation headers.
 * Tests skip (with a message) where a browser is not installed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import type { BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.ROBUSTLAB_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const NO_CHROMIUM_MESSAGE = `browser tests skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set ROBUSTLAB_CHROMIUM)`;

export const FIREFOX = process.env.ROBUSTLAB_FIREFOX ?? '/usr/bin/firefox-esr';
export const HAVE_FIREFOX = existsSync(FIREFOX);
export const NO_FIREFOX_MESSAGE = `firefox tests skipped: no firefox at ${FIREFOX} (apt-get install firefox-esr, or set ROBUSTLAB_FIREFOX)`;

/** A launched browser: one context (1400×1000 viewport) and its teardown. */
export interface LaunchedBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<LaunchedBrowser> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'robustlab-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 1000 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * BiDi commands that playwright-core sends on every new context although the test never uses
 * what they emulate, and that a Firefox older than playwright-core's target lacks (ESR 153 has
 * no emulation.setMediaFeaturesOverride: newContext fails with "unknown command"). Upstream
 * declines to ignore protocol errors (it targets the latest Firefox), so the launcher does, for
 * these methods only; a newer Firefox that knows them gets them as usual.
 */
const OPTIONAL_BIDI_COMMANDS = new Set(['emulation.setMediaFeaturesOverride']);

type BidiSend = (method: string, params: unknown) => Promise<unknown>;

/**
 * Debian's firefox-esr driven over WebDriver BiDi (playwright-core's `moz-firefox` channel: a
 * stock Firefox, not Playwright's patched build), in a fresh profile and a HOME of its own (as
 * root, Firefox refuses a HOME that another user owns).
 */
export async function launchFirefox(): Promise<LaunchedBrowser> {
  const { firefox } = await import('playwright-core');
  const home = mkdtempSync(join(tmpdir(), 'robustlab-firefox-'));
  const browser = await firefox.launch({
    channel: 'moz-firefox',
    executablePath: FIREFOX,
    headless: true,
    env: { ...process.env, HOME: home },
  });
  try {
    // The in-process server behind the client object (playwright-core's own test hook), whose
    // BiDi session class every page's session shares.
    const toImpl = (browser as unknown as { _connection?: { toImpl?: (x: unknown) => unknown } })
      ._connection?.toImpl;
    const session = (toImpl?.(browser) as { _browserSession?: { send?: BidiSend } } | undefined)
      ?._browserSession;
    if (!session?.send)
      throw new Error('playwright-core changed: no BiDi browser session to patch for Firefox');
    const proto = Object.getPrototypeOf(session) as { send: BidiSend; robustlabPatched?: true };
    if (!proto.robustlabPatched) {
      const send = proto.send;
      proto.send = async function (this: unknown, method, params) {
        try {
          return await send.call(this, method, params);
        } catch (e) {
          if (OPTIONAL_BIDI_COMMANDS.has(method) && /unknown command/.test(String(e))) return {};
          throw e;
        }
      };
      proto.robustlabPatched = true;
    }
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    return {
      context,
      close: async () => {
        await browser.close();
        rmSync(home, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await browser.close();
    rmSync(home, { recursive: true, force: true });
    throw e;
  }
}

/** The browsers the tests run in; `have` false: skip with `missing`. */
export const BROWSERS = [
  { name: 'chromium', have: HAVE_CHROMIUM, missing: NO_CHROMIUM_MESSAGE, launch: launchChromium },
  { name: 'firefox', have: HAVE_FIREFOX, missing: NO_FIREFOX_MESSAGE, launch: launchFirefox },
] as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/** Serve `root` on 127.0.0.1 (any free port) with COOP/COEP, like the lab server. */
export async function serveStatic(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const base = resolve(root);
  const server = createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const p = resolve(base, '.' + sep + (rel === '/' ? 'index.html' : rel));
    const ok = p.startsWith(base + sep) && existsSync(p) && statSync(p).isFile();
    res.writeHead(ok ? 200 : 404, {
      'Content-Type': TYPES[extname(p)] ?? 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    res.end(ok ? readFileSync(p) : 'not found');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}/`,
    // closeAllConnections: the browser keeps its sockets alive, and close() alone waits for
    // them (79 s, most of the lab test's time)
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
