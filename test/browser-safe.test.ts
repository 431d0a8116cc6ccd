/**
 * The core entry (src/index.ts) must run in a browser: bundle it with esbuild for
 * platform=browser and fail on any Node import reachable from it (`node:*` or a bare builtin).
 * The Node entry must, on the contrary, reach the native addon and the data files.
 */
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/testing/fixtures.js';

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

async function bundle(entry: string, platform: 'browser' | 'node') {
  const r = await build({
    entryPoints: [join(REPO_ROOT, entry)],
    bundle: true,
    platform,
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
    // On node, keep builtins and packages external so the metafile lists the imports.
    ...(platform === 'node' ? { packages: 'external' as const } : {}),
  });
  return r.metafile as Metafile;
}

function nodeImports(meta: Metafile): string[] {
  const found = new Set<string>();
  for (const [file, input] of Object.entries(meta.inputs))
    for (const imp of input.imports)
      if (imp.path.startsWith('node:') || BUILTINS.has(imp.path))
        found.add(`${file} -> ${imp.path}`);
  return [...found];
}

describe('browser-safe core', () => {
  it('bundles src/index.ts for the browser with no Node import reachable', async () => {
    let meta: Metafile;
    try {
      meta = await bundle('src/index.ts', 'browser');
    } catch (e) {
      // esbuild cannot resolve node:* for the browser: name the offending import in the failure
      const errors =
        (e as { errors?: { text: string; location?: { file: string } }[] }).errors ?? [];
      throw new Error(
        `src/index.ts does not bundle for the browser:\n` +
          errors.map((x) => `${x.location?.file ?? ''}: ${x.text}`).join('\n'),
      );
    }
    expect(nodeImports(meta)).toEqual([]);
    const ours = Object.keys(meta.inputs).filter((f) => f.startsWith('src/'));
    // The core really is in it: models, training, latent, attacks, defences, metrics, figures.
    for (const f of [
      'src/models/classifier.ts',
      'src/models/train.ts',
      'src/latent/pipeline.ts',
      'src/attacks/targeted-ce-l2.ts',
      'src/defences/spectral.ts',
      'src/metrics/robustness.ts',
      'src/report/svg.ts',
      'src/backend/backend-core.ts',
    ])
      expect(ours).toContain(f);
    for (const f of ours)
      expect(f).not.toMatch(/node-io|native-matmul|experiments|cli|render\.ts|atomic/);
  });

  it('the Node entry does reach the native addon and the data files', async () => {
    const meta = await bundle('src/node.ts', 'node');
    const files = Object.keys(meta.inputs);
    expect(files).toContain('src/backend/native-matmul.ts');
    expect(files).toContain('src/data/node-io.ts');
    expect(nodeImports(meta).length).toBeGreaterThan(0);
  });
});
