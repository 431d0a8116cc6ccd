#!/usr/bin/env node
/**
 * Build the optional OpenBLAS matmul addon (native/ → native/build/Release/robustlab_matmul.node).
 *
 * Prints exactly one line: what was built, or "native matmul not built (<reason>); using wasm".
 * ALWAYS exits 0, so `npm install` / `npm ci` never fails on a machine without OpenBLAS or a
 * C++ toolchain. The full node-gyp log goes to native/build.log.
 *
 *   ROBUSTLAB_NATIVE=0   skip the build (and, at run time, never load the addon)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE = join(ROOT, 'native');
const ADDON = join(NATIVE, 'build', 'Release', 'robustlab_matmul.node');
const LOG = join(NATIVE, 'build.log');

function done(line) {
  console.log(line);
  process.exit(0);
}
const skip = (reason) => done(`native matmul not built (${reason}); using wasm`);

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', cwd: NATIVE, maxBuffer: 64 << 20, ...opts });
}

/** OpenBLAS present? The addon dlopen()s it at run time, so only the shared library is needed. */
function findOpenBlas() {
  const pc = run('pkg-config', ['--exists', 'openblas']);
  if (pc.status === 0) return 'pkg-config';
  const dirs = [
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
    '/opt/homebrew/opt/openblas/lib',
    '/usr/local/opt/openblas/lib',
  ];
  for (const d of dirs) {
    for (const f of ['libopenblas.so.0', 'libopenblas.so', 'libopenblas.dylib'])
      if (existsSync(join(d, f))) return join(d, f);
  }
  return null;
}

/** node-gyp: npm's lifecycle env, then the project's, then the copy bundled with npm. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  try {
    candidates.push(createRequire(join(ROOT, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not a project dependency */
  }
  const prefix = resolve(dirname(process.execPath), '..');
  candidates.push(
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(
      dirname(process.execPath),
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  );
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

/** Local Node headers matching this Node (so node-gyp never downloads anything). */
function findNodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = resolve(dirname(process.execPath), '..');
  const versionH = join(prefix, 'include', 'node', 'node_version.h');
  if (!existsSync(versionH)) return null;
  const src = readFileSync(versionH, 'utf8');
  const n = (k) => src.match(new RegExp(`#define ${k} (\\d+)`))?.[1];
  const v = `v${n('NODE_MAJOR_VERSION')}.${n('NODE_MINOR_VERSION')}.${n('NODE_PATCH_VERSION')}`;
  return v === process.version ? prefix : null;
}

if (process.env.ROBUSTLAB_NATIVE === '0') skip('ROBUSTLAB_NATIVE=0');
if (process.platform === 'win32') skip('Windows is not supported');
const blas = findOpenBlas();
if (!blas) skip('OpenBLAS not found: apt-get install libopenblas-dev');
const gyp = findNodeGyp();
if (!gyp) skip('node-gyp not found');

const args = [gyp, 'rebuild', '--release', '--jobs', '1'];
const nodedir = findNodeDir();
if (nodedir) args.push(`--nodedir=${nodedir}`);
const build = run(process.execPath, args, { env: { ...process.env, npm_config_loglevel: 'warn' } });
writeFileSync(
  LOG,
  `$ node ${args.join(' ')}\n${build.stdout ?? ''}\n${build.stderr ?? ''}\n${build.error ?? ''}`,
);
if (build.status !== 0 || !existsSync(ADDON)) {
  const lines = `${build.stderr ?? ''}\n${build.stdout ?? ''}`.split('\n').map((l) => l.trim());
  const hint =
    lines.find((l) => /error|not found|cannot find/i.test(l) && !/^gyp (ERR|info)/.test(l)) ??
    lines.find((l) => /^gyp ERR!/.test(l)) ??
    `exit ${build.status}`;
  rmSync(ADDON, { force: true });
  skip(`build failed: ${hint.slice(0, 160)} — see native/build.log`);
}

// Smoke test in a fresh process: load it and multiply [[1,2],[3,4]]·[[5,6],[7,8]].
const check = run(process.execPath, [
  '-e',
  `const m=require(${JSON.stringify(ADDON)});const c=new Float32Array(4);` +
    `m.sgemm(false,false,2,2,2,new Float32Array([1,2,3,4]),new Float32Array([5,6,7,8]),c);` +
    `if(c.join()!=='19,22,43,50')throw new Error('wrong result '+c.join());console.log(m.config())`,
]);
if (check.status !== 0) {
  const msg =
    (check.stderr || '').split('\n').find((l) => /Error/.test(l)) ?? `exit ${check.status}`;
  rmSync(ADDON, { force: true });
  skip(`built but failed to load: ${msg.trim().slice(0, 160)}`);
}
done(`native matmul built: native/build/Release/robustlab_matmul.node (${check.stdout.trim()})`);
