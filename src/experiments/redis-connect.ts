/**
 * Connecting to the queue's Redis, for the coordinator and the workers alike.
 *
 * - The --queue URL: `redis://[:PASSWORD@]HOST:PORT[/DB]`, or `rediss://…` for TLS.
 * - TLS trust: a rediss:// server's certificate is checked (never skipped) against Node's CA
 *   store, plus NODE_EXTRA_CA_CERTS if set; `ROBUSTLAB_REDIS_CA=FILE` (PEM, may hold several
 *   certificates) makes that file the only trusted CA, for a private CA or a self-made one.
 * - The password: in the URL, or `ROBUSTLAB_REDIS_PASSWORD` when the URL has none (keeps it out
 *   of `ps` and shell history). It is never printed or written: URLs go through redactUrl().
 * - The first connection (checkRedis) tells a mistake the user must fix (wrong or missing
 *   password, an untrusted certificate, a TLS URL for a plain port or the reverse) from an outage
 *   to wait out, and fails at once on a mistake with one line naming it, instead of reconnecting
 *   forever as the Redis client does.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { RobustlabError } from '../data/errors.js';
import { redactUrl } from '../util/redact-url.js';

/** Set `closing` to make the connections of queueConnection() stop reconnecting. */
export interface ConnectionControl {
  closing: boolean;
}

interface Endpoint {
  url: string;
  tls: boolean;
  host: string;
  port: number;
  /** host:port, for messages (never the credentials). */
  where: string;
}

function endpointOf(url: string): Endpoint {
  const shown = redactUrl(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RobustlabError(`--queue: '${shown}' is not a URL (expected redis://HOST:PORT)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new RobustlabError(
      `--queue: '${shown}' is not a Redis URL (expected redis://HOST:PORT or rediss://:PASSWORD@HOST:PORT)`,
    );
  if (!u.hostname) throw new RobustlabError(`--queue: '${shown}' has no host`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : 6379;
  return { url, tls: u.protocol === 'rediss:', host, port, where: `${u.hostname}:${port}` };
}

/** ROBUSTLAB_REDIS_CA's certificates, checked to be PEM. */
function trustedCa(): Buffer | undefined {
  const file = process.env.ROBUSTLAB_REDIS_CA;
  if (!file) return undefined;
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new RobustlabError(`ROBUSTLAB_REDIS_CA: cannot read ${file} (${code})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new RobustlabError(
      `ROBUSTLAB_REDIS_CA: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  return pem;
}

/** ioredis options for a URL besides the URL itself: TLS trust, the password from the env. */
function clientOptions(e: Endpoint): RedisOptions {
  const o: RedisOptions = {};
  if (e.tls) {
    const ca = trustedCa();
    o.tls = ca ? { ca } : {};
  }
  // The URL's password, when there is one, wins (ioredis: URL fields before options).
  const password = process.env.ROBUSTLAB_REDIS_PASSWORD;
  if (password) o.password = password;
  return o;
}

/** Parse and check a --queue URL into BullMQ connection options. */
export function queueConnection(
  url: string,
  control: ConnectionControl = { closing: false },
): ConnectionOptions {
  const e = endpointOf(url);
  // Commands wait for a reconnect instead of failing: a Redis restart only pauses the run.
  return {
    url,
    ...clientOptions(e),
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => (control.closing ? null : Math.min(250 * times, 2000)),
    connectionName: `robustlab-${hostname()}-${process.pid}`,
  };
}

type ErrorWithCode = Error & { code?: string };

const CERT_UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * The problem an error of a Redis connection names that waiting will not fix, as one line;
 * undefined for errors of an outage (refused, reset, timed out: Redis down or restarting).
 */
export function fatalRedisProblem(err: ErrorWithCode, url: string): string | undefined {
  const e = endpointOf(url);
  const msg = (err.message || String(err)).split('\n')[0];
  const code = err.code ?? '';
  const caHint = process.env.ROBUSTLAB_REDIS_CA
    ? `it is not signed by the CA in ROBUSTLAB_REDIS_CA=${process.env.ROBUSTLAB_REDIS_CA}`
    : 'set ROBUSTLAB_REDIS_CA=FILE to the PEM certificate of the CA that signed it';
  if (/^WRONGPASS|invalid password|invalid username-password/i.test(msg))
    return `Redis at ${e.where} refused the password (WRONGPASS): check the password in the --queue URL or ROBUSTLAB_REDIS_PASSWORD`;
  if (/^NOAUTH/.test(msg))
    return `Redis at ${e.where} requires a password (NOAUTH): give it in the URL, ${e.tls ? 'rediss' : 'redis'}://:PASSWORD@${e.where}, or in ROBUSTLAB_REDIS_PASSWORD`;
  if (/^NOPERM/.test(msg)) return `Redis at ${e.where}: the user lacks a permission (${msg})`;
  if (/^DENIED/.test(msg)) return `Redis at ${e.where} denied the connection: ${msg}`;
  if (CERT_UNTRUSTED.has(code))
    return `TLS: the certificate of Redis at ${e.where} is not trusted (${msg}): ${caHint}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `TLS: the certificate of Redis at ${e.where} is not for ${e.host} (${msg.replace(/^Hostname\/IP does not match certificate's altnames: /, '')})`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return `TLS: the certificate of Redis at ${e.where} is not valid now (${msg})`;
  if (code === 'ERR_OSSL_PEM_NO_START_LINE' || /^ERR_OSSL_/.test(code))
    return `TLS: cannot use the CA certificate (${msg})`;
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One connection attempt, no retries: undefined once Redis is ready, else the last error. */
async function tryConnect(e: Endpoint, timeoutMs: number): Promise<ErrorWithCode | undefined> {
  const client = new Redis(e.url, {
    ...clientOptions(e),
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
  });
  let last: ErrorWithCode | undefined;
  client.on('error', (err: ErrorWithCode) => (last ??= err));
  try {
    const result = await new Promise<ErrorWithCode | undefined>((resolve) => {
      client.once('ready', () => resolve(undefined));
      client.once('end', () => resolve(last ?? new Error('connection closed')));
      client.connect().catch(() => {});
    });
    return result;
  } finally {
    client.disconnect();
  }
}

/** Does HOST:PORT answer a plain-text PING as Redis does (+PONG, or an -ERR/-NOAUTH)? */
function answersPlainRedis(e: Endpoint, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: e.host, port: e.port });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => done(/^[+-]/.test(d.toString('latin1'))));
  });
}

/** Does HOST:PORT complete a TLS handshake (certificate not checked: only "is it TLS")? */
function speaksTls(e: Endpoint, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: e.host, port: e.port, rejectUnauthorized: false });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.once('secureConnect', () => done(true));
  });
}

/** A TLS URL for a plain port or a plain URL for a TLS port, told by asking the port. */
async function protocolMismatch(e: Endpoint, err: ErrorWithCode): Promise<string | undefined> {
  const code = err.code ?? '';
  const msg = err.message ?? '';
  if (e.tls) {
    // A plain server answers a ClientHello with nothing (it waits for a line end: the
    // handshake times out) or with an error line (the client sees "wrong version number").
    const suspicious =
      code === 'ETIMEDOUT' ||
      code === 'ECONNRESET' ||
      code.startsWith('ERR_SSL_') ||
      /TLS|SSL|timed? ?out/i.test(msg);
    if (suspicious && (await answersPlainRedis(e)))
      return `${e.where} is a plain (non-TLS) Redis port, but the URL is rediss:// (TLS): use redis://${e.where}, or the server's TLS port (redis-server --tls-port)`;
  } else {
    const suspicious =
      code === 'ECONNRESET' ||
      code === 'ETIMEDOUT' ||
      code === 'EPIPE' ||
      /closed|reset|timed? ?out/i.test(msg);
    if (suspicious && (await speaksTls(e)))
      return `${e.where} is a TLS port, but the URL is redis:// (plain): use rediss://${e.where}`;
  }
  return undefined;
}

export interface CheckRedisOptions {
  /** Give up after this long without reaching Redis (Infinity: wait for it). */
  seconds?: number;
  /** Called with each error of an outage while waiting (a refused or reset connection). */
  onWait?: (err: Error) => void;
}

/**
 * Connect once before the real connections: resolves when Redis answers; throws a
 * RobustlabError naming the problem at once on a mistake (password, certificate, TLS or not),
 * or after `seconds` of outage.
 */
export async function checkRedis(url: string, opts: CheckRedisOptions = {}): Promise<void> {
  const e = endpointOf(url);
  const seconds = opts.seconds ?? 15;
  const deadline = Date.now() + seconds * 1000;
  clientOptions(e); // a bad ROBUSTLAB_REDIS_CA fails here, before any connection
  for (;;) {
    const left = deadline - Date.now();
    const err = await tryConnect(e, Math.max(1000, Math.min(10_000, left)));
    if (!err) return;
    const fatal = fatalRedisProblem(err, url) ?? (await protocolMismatch(e, err));
    if (fatal) throw new RobustlabError(fatal);
    if (Date.now() >= deadline)
      throw new RobustlabError(
        `cannot reach Redis at ${redactUrl(url)} after ${seconds} s (${redactUrl(err.message.split('\n')[0])}; is redis-server running and reachable?)`,
      );
    opts.onWait?.(err);
    await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
  }
}
