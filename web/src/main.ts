/**
 * The lab page: input (test image or drawing), every classifier's label, a live attack with
 * progress and stop, the spectral-defence slider, the latent view and the run's report. All
 * tensor work happens in two Web Workers (worker.ts), so the page stays responsive.
 */
import './style.css';
import { splitFromIdxBytes } from '../../src/data/from-bytes.js';
import type { Split } from '../../src/data/datasets.js';
import { Rng } from '../../src/util/rng.js';
import { ATTACKS, attackById } from './attacks.js';
import type { LabIndex, LabModelEntry } from './index-types.js';
import type { Prediction, Reply, Request } from './protocol.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
/** Test images the defence's accuracy is measured on (the first N of the test split). */
const DEFENCE_N = Number(params.get('defenceN') ?? 500);
const rng = new Rng(Number(params.get('seed') ?? Date.now() % 1e9));
const threads = params.get('threads') !== '0';

type ReplyOf<T extends Reply['type']> = Extract<Reply, { type: T }>;

/** A worker answering one request at a time, in order; 'progress' messages go to onProgress. */
class Client {
  private w: Worker;
  private pending: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  onProgress: ((r: ReplyOf<'progress'>) => void) | null = null;
  constructor() {
    this.w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.w.onmessage = (ev: MessageEvent<Reply>) => {
      const r = ev.data;
      if (r.type === 'progress') return this.onProgress?.(r);
      const p = this.pending.shift();
      if (!p) return;
      if (r.type === 'error') p.reject(new Error(r.message));
      else p.resolve(r);
    };
    this.w.onerror = (e) => {
      e.preventDefault();
      this.failAll(new Error(`worker failed: ${e.message}`));
    };
  }
  request<T extends Reply['type']>(
    msg: Request,
    transfer: Transferable[] = [],
  ): Promise<ReplyOf<T>> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve: resolve as (r: Reply) => void, reject });
      this.w.postMessage(msg, transfer);
    });
  }
  private failAll(e: Error) {
    for (const p of this.pending.splice(0)) p.reject(e);
  }
  terminate() {
    this.w.terminate();
    this.failAll(new Error('stopped'));
  }
}

let index: LabIndex;
let dataset = '';
let models: LabModelEntry[] = [];
let classNames: string[] = [];
let test: Split | null = null;
let view: Client;
let attacker: Client;
let attackerReady: Promise<unknown> = Promise.resolve();
let x: Float32Array | null = null;
let xAdv: Float32Array | null = null;
let cleanPreds: Prediction[] = [];

function status(id: string, text: string) {
  $(id).textContent = text;
}

function showError(where: string, e: unknown) {
  const msg = (e as Error)?.message ?? String(e);
  if (msg === 'stopped') return;
  status(where, `error: ${msg}`);
}

// --- images ------------------------------------------------------------------------------
function paintGrey(canvas: HTMLCanvasElement, img: Float32Array) {
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(Math.max(0, Math.min(1, img[i])) * 255);
    data.data.set([v, v, v, 255], i * 4);
  }
  drawScaled(canvas, data);
}

/** Signed perturbation: red positive, blue negative, white zero, scaled by max |δ|. */
function paintSigned(canvas: HTMLCanvasElement, d: Float32Array) {
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(28, 28);
  let m = 0;
  for (const v of d) m = Math.max(m, Math.abs(v));
  for (let i = 0; i < 784; i++) {
    const t = m > 0 ? d[i] / m : 0;
    const r = t < 0 ? Math.round(255 * (1 + t)) : 255;
    const b = t > 0 ? Math.round(255 * (1 - t)) : 255;
    const g = Math.round(255 * (1 - Math.abs(t)));
    data.data.set([r, g, b, 255], i * 4);
  }
  drawScaled(canvas, data);
}

function drawScaled(canvas: HTMLCanvasElement, data: ImageData) {
  const tmp = document.createElement('canvas');
  tmp.width = 28;
  tmp.height = 28;
  tmp.getContext('2d')!.putImageData(data, 0, 0);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

// --- drawing -----------------------------------------------------------------------------
const draw = () => $<HTMLCanvasElement>('draw');
let drawing = false;
let drawnSinceClear = false;

function clearCanvas() {
  const c = draw();
  const ctx = c.getContext('2d')!;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, c.width, c.height);
  drawnSinceClear = false;
}

/**
 * The drawing as an MNIST-style image: the ink's bounding box scaled to fit 20×20, then placed
 * so its centre of mass is at the centre of the 28×28 frame (how MNIST digits were prepared).
 */
function canvasToImage(): Float32Array | null {
  const c = draw();
  const src = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
  let x0 = c.width,
    y0 = c.height,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < c.height; y++)
    for (let xx = 0; xx < c.width; xx++)
      if (src[(y * c.width + xx) * 4] > 20) {
        x0 = Math.min(x0, xx);
        x1 = Math.max(x1, xx);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
  if (x1 < 0) return null;
  const w = x1 - x0 + 1,
    h = y1 - y0 + 1;
  const s = 20 / Math.max(w, h);
  const small = document.createElement('canvas');
  small.width = 28;
  small.height = 28;
  const sctx = small.getContext('2d')!;
  sctx.fillStyle = '#000';
  sctx.fillRect(0, 0, 28, 28);
  sctx.imageSmoothingEnabled = true;
  sctx.imageSmoothingQuality = 'high';
  sctx.drawImage(c, x0, y0, w, h, (28 - w * s) / 2, (28 - h * s) / 2, w * s, h * s);
  const px = sctx.getImageData(0, 0, 28, 28).data;
  const img = new Float32Array(784);
  let mass = 0,
    cx = 0,
    cy = 0;
  for (let i = 0; i < 784; i++) {
    img[i] = px[i * 4] / 255;
    mass += img[i];
    cx += (i % 28) * img[i];
    cy += Math.floor(i / 28) * img[i];
  }
  const dx = Math.round(13.5 - cx / mass),
    dy = Math.round(13.5 - cy / mass);
  const out = new Float32Array(784);
  for (let y = 0; y < 28; y++)
    for (let xx = 0; xx < 28; xx++) {
      const sy = y - dy,
        sx = xx - dx;
      if (sy >= 0 && sy < 28 && sx >= 0 && sx < 28) out[y * 28 + xx] = img[sy * 28 + sx];
    }
  return out;
}

function setupDrawing() {
  const c = draw();
  const ctx = c.getContext('2d')!;
  const pos = (e: PointerEvent) => {
    const r = c.getBoundingClientRect();
    return [
      ((e.clientX - r.left) * c.width) / r.width,
      ((e.clientY - r.top) * c.height) / r.height,
    ];
  };
  c.addEventListener('pointerdown', (e) => {
    if (!drawnSinceClear) clearCanvas(); // a picked test image is replaced by the drawing
    drawing = true;
    drawnSinceClear = true;
    c.setPointerCapture(e.pointerId);
    const [px, py] = pos(e);
    ctx.beginPath();
    ctx.moveTo(px, py);
    ctx.lineTo(px + 0.1, py + 0.1);
    stroke(ctx);
  });
  c.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const [px, py] = pos(e);
    ctx.lineTo(px, py);
    stroke(ctx);
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    const img = canvasToImage();
    if (img) setInput(img, 'drawn digit');
  };
  c.addEventListener('pointerup', end);
  c.addEventListener('pointercancel', end);
}

function stroke(ctx: CanvasRenderingContext2D) {
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 22;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.stroke();
}

// --- input and predictions -----------------------------------------------------------------
function pickTestImage() {
  if (!test) return;
  const cls = Number($<HTMLSelectElement>('pick-class').value);
  const candidates: number[] = [];
  for (let i = 0; i < test.n; i++) if (test.labels[i] === cls) candidates.push(i);
  const i = candidates[rng.int(candidates.length)];
  const img = test.images.slice(i * 784, (i + 1) * 784);
  paintGrey(draw(), img);
  drawnSinceClear = false;
  setInput(img, `test image #${i}, true class ${classNames[cls]}`);
}

async function setInput(img: Float32Array, what: string) {
  x = img;
  xAdv = null;
  status('input-info', what);
  paintGrey($('img-orig') as HTMLCanvasElement, img);
  for (const id of ['img-delta', 'img-adv']) {
    const c = $<HTMLCanvasElement>(id);
    c.getContext('2d')!.clearRect(0, 0, c.width, c.height);
  }
  $('attack-result').innerHTML = '';
  status('attack-status', 'ready to attack');
  try {
    const r = await view.request<'predictions'>({ type: 'predictAll', x: img });
    if (x !== img) return;
    cleanPreds = r.predictions;
    renderPredictions(r.predictions, null);
    chooseGoal();
    void updateDefence();
    if (!$('tab-latent').classList.contains('hidden')) void updateLatent();
  } catch (e) {
    showError('input-info', e);
  }
}

function renderPredictions(clean: Prediction[], adv: Prediction[] | null) {
  const body = $('pred-table').querySelector('tbody')!;
  const target = $<HTMLSelectElement>('target-model').value;
  body.innerHTML = '';
  for (const p of clean) {
    const m = models.find((e) => e.id === p.id)!;
    const tr = document.createElement('tr');
    tr.dataset.model = p.id;
    if (p.id === target) tr.classList.add('target');
    const bars = p.probs
      .map(
        (v, k) =>
          `<span class="${k === p.label ? 'top' : ''}" style="height:${Math.max(1, v * 22)}px" title="${k}: ${(v * 100).toFixed(1)}%"></span>`,
      )
      .join('');
    const a = adv?.find((q) => q.id === p.id);
    const advCell = a
      ? `<span class="${a.label !== p.label ? 'changed' : ''}">${classNames[a.label]} (${(a.probs[a.label] * 100).toFixed(0)}%)</span>`
      : '–';
    tr.innerHTML =
      `<td>${m.space}</td><td>${m.arch}</td><td>${m.testAccuracy === null ? '–' : (m.testAccuracy * 100).toFixed(1) + '%'}</td>` +
      `<td class="label">${classNames[p.label]}</td><td>${(p.probs[p.label] * 100).toFixed(1)}%</td>` +
      `<td><span class="bars">${bars}</span></td><td class="adv">${advCell}</td>`;
    body.appendChild(tr);
  }
}

// --- attack ------------------------------------------------------------------------------
function renderAttackParams() {
  const a = attackById($<HTMLSelectElement>('attack').value);
  const box = $('attack-params');
  box.innerHTML = '';
  for (const p of a.params) {
    const l = document.createElement('label');
    l.innerHTML = `${p.label} <input type="number" data-key="${p.key}" value="${p.value}" min="${p.min}" max="${p.max}" step="${p.step}" />`;
    box.appendChild(l);
  }
  $<HTMLSelectElement>('goal').disabled = a.targeted === 'none';
}

function chooseGoal() {
  const target = cleanPreds.find((p) => p.id === $<HTMLSelectElement>('target-model').value);
  const sel = $<HTMLSelectElement>('goal');
  if (!target) return;
  const others = classNames.map((_, k) => k).filter((k) => k !== target.label);
  sel.value = String(others[rng.int(others.length)]);
}

function spawnAttacker() {
  attacker = new Client();
  attackerReady = attacker.request({ type: 'init', index, dataset, threads });
}

async function runAttack() {
  if (!x) return;
  const model = $<HTMLSelectElement>('target-model').value;
  const a = attackById($<HTMLSelectElement>('attack').value);
  const clean = cleanPreds.find((p) => p.id === model);
  if (!clean) return;
  const goalSel = $<HTMLSelectElement>('goal');
  const goal = a.targeted === 'none' ? null : Number(goalSel.value);
  const values: Record<string, number> = {};
  for (const inp of $('attack-params').querySelectorAll('input')) {
    const el = inp as HTMLInputElement;
    // An empty field would read as 0; a number field's value is also empty when its text is no
    // number (Firefox lets any text be typed in).
    if (el.value.trim() === '') {
      status('attack-status', `error: ${el.dataset.key} is empty or not a number`);
      return;
    }
    values[el.dataset.key!] = Number(el.value);
  }
  const bar = $<HTMLProgressElement>('attack-progress');
  bar.value = 0;
  $<HTMLButtonElement>('run-attack').disabled = true;
  $<HTMLButtonElement>('stop-attack').disabled = false;
  status('attack-status', `attacking ${model} (${a.name})…`);
  const x0 = x;
  try {
    await attackerReady;
    attacker.onProgress = (p) => {
      bar.max = p.total;
      bar.value = p.done;
      status('attack-status', `step ${p.done}/${p.total} ${p.extra}`);
    };
    const r = await attacker.request<'attacked'>({
      type: 'attack',
      model,
      x: x0,
      n: 1,
      params: { attack: a.id, goal, label: clean.label, values },
    });
    if (x !== x0) return;
    xAdv = r.xAdv;
    bar.max = 1;
    bar.value = 1;
    const delta = xAdv.map((v, i) => v - x0[i]);
    paintSigned($('img-delta') as HTMLCanvasElement, delta);
    paintGrey($('img-adv') as HTMLCanvasElement, xAdv);
    const ok = r.success[0];
    const goalText =
      goal === null ? `away from ${classNames[clean.label]}` : `goal ${classNames[goal]}`;
    status(
      'attack-status',
      `${ok ? 'succeeded' : 'failed'} after ${r.steps[0]} steps (${r.seconds.toFixed(2)} s)`,
    );
    $('attack-result').innerHTML =
      `<div>${goalText}: the attacked model now says <b id="adv-label">${classNames[r.finalLabel[0]]}</b> ` +
      `(p = ${(r.goalProb[0] * 100).toFixed(1)}% for ${goal === null ? 'the clean class' : 'the goal'})</div>` +
      `<div>‖δ‖₂ = <b id="norm-l2">${r.l2[0].toFixed(3)}</b>, ‖δ‖∞ = <b id="norm-linf">${r.linf[0].toFixed(3)}</b></div>` +
      (ok
        ? ''
        : '<div class="muted">a failure can mean the model is robust here, or that its gradient is masked (e.g. the projection spaces)</div>');
    const adv = await view.request<'predictions'>({ type: 'predictAll', x: xAdv });
    renderPredictions(cleanPreds, adv.predictions);
    void updateDefence();
  } catch (e) {
    if ((e as Error).message === 'stopped') status('attack-status', 'stopped');
    else showError('attack-status', e);
  } finally {
    attacker.onProgress = null;
    $<HTMLButtonElement>('run-attack').disabled = false;
    $<HTMLButtonElement>('stop-attack').disabled = true;
  }
}

function stopAttack() {
  attacker.terminate(); // the attack runs synchronously in its worker: end the worker
  spawnAttacker();
}

// --- spectral defence --------------------------------------------------------------------
let defenceModel = '';
let defenceReady: Promise<unknown> | null = null;
let defendBusy = false;
let defendAgain = false;

async function initDefence() {
  const model = $<HTMLSelectElement>('target-model').value;
  if (!test || !model) return;
  defenceModel = model;
  const n = Math.min(DEFENCE_N, test.n);
  $<HTMLInputElement>('svd-slider').disabled = true;
  status('defence-status', `computing the SVD of every layer of ${model}…`);
  const ready = view
    .request<'defendReady'>({
      type: 'defendInit',
      model,
      x: test.images.slice(0, n * 784),
      y: test.labels.slice(0, n),
      n,
    })
    .then((r) => {
      if (defenceModel !== model) return;
      status(
        'defence-status',
        `defending ${model}: SVD of its layers in ${r.seconds.toFixed(1)} s; clean accuracy ${(r.accuracy * 100).toFixed(1)}%`,
      );
      $<HTMLInputElement>('svd-slider').disabled = false;
      status('defence-n', String(r.n));
    });
  defenceReady = ready;
  await ready.then(() => updateDefence()).catch((e) => showError('defence-status', e));
}

async function updateDefence() {
  if (!defenceReady) return;
  if (defendBusy) {
    defendAgain = true; // coalesce slider moves: only the latest value is computed next
    return;
  }
  defendBusy = true;
  try {
    await defenceReady;
    do {
      defendAgain = false;
      const fraction = Number($<HTMLInputElement>('svd-slider').value) / 100;
      const mode = (document.querySelector('input[name="svd-mode"]:checked') as HTMLInputElement)
        .value as 'zero' | 'scale';
      status('svd-pct', String(Math.round(fraction * 100)));
      const r = await view.request<'defended'>({
        type: 'defend',
        model: defenceModel,
        mode,
        fraction,
        xAdv,
      });
      status('defence-acc', `${(r.accuracy * 100).toFixed(1)}%`);
      status(
        'defence-label',
        r.label === null
          ? '– (run an attack)'
          : `${classNames[r.label]} (${(r.probs![r.label] * 100).toFixed(0)}%)`,
      );
    } while (defendAgain);
  } catch (e) {
    showError('defence-status', e);
  } finally {
    defendBusy = false;
  }
}

// --- latent view -------------------------------------------------------------------------
async function updateLatent() {
  if (!x) return;
  const grid = $('latent-grid');
  const r = await view.request<'latent'>({ type: 'latent', x });
  grid.innerHTML = '';
  const cell = (title: string, img: Float32Array) => {
    const f = document.createElement('figure');
    const c = document.createElement('canvas');
    c.width = 168;
    c.height = 168;
    c.className = 'px';
    paintGrey(c, img);
    let err = 0;
    for (let i = 0; i < 784; i++) err += (img[i] - x![i]) ** 2;
    f.appendChild(c);
    const cap = document.createElement('figcaption');
    cap.textContent =
      title === 'input' ? 'input x' : `${title}: ‖D(z) − x‖₂ = ${Math.sqrt(err).toFixed(2)}`;
    f.style.maxWidth = '180px';
    cap.style.maxWidth = '180px';
    f.appendChild(cap);
    f.dataset.name = title;
    grid.appendChild(f);
  };
  for (const kind of ['ae', 'vae']) {
    cell('input', x);
    for (const how of ['encoding', 'projection']) {
      const img = r.images.find((i) => i.name === `${kind}-${how}`);
      if (img) cell(`${kind.toUpperCase()} ${how}`, img.x);
    }
  }
}

// --- report ------------------------------------------------------------------------------
function renderReport() {
  const body = $('claims').querySelector('tbody')!;
  body.innerHTML = '';
  for (const c of index.report.claims) {
    const tr = document.createElement('tr');
    // reproduce writes a verdict (supported / not supported / inconclusive / n/a); older runs a boolean
    const verdict =
      c.verdict ?? (c.supported == null ? 'n/a' : c.supported ? 'supported' : 'not supported');
    tr.innerHTML = `<td>${c.dataset}</td><td>${c.claim}</td><td>${verdict}</td><td>${c.evidence}</td>`;
    body.appendChild(tr);
  }
  if (!index.report.claims.length)
    body.innerHTML =
      '<tr><td colspan="4" class="muted">no results.json in this run (the report is written when the run finishes)</td></tr>';
  const figs = $('figures');
  figs.innerHTML = '';
  for (const f of index.report.figures) {
    const img = document.createElement('img');
    img.src = f;
    img.alt = f.split('/').pop()!;
    img.title = img.alt;
    figs.appendChild(img);
  }
  const link = $<HTMLAnchorElement>('report-link');
  if (index.report.html) link.href = index.report.html;
  else link.replaceWith(document.createTextNode('no report.html in this run'));
}

// --- setup -------------------------------------------------------------------------------
function fillSelect(sel: HTMLSelectElement, items: [string, string][]) {
  sel.innerHTML = items.map(([v, t]) => `<option value="${v}">${t}</option>`).join('');
}

async function loadTestData() {
  test = null;
  const td = index.datasets[dataset].testData;
  if (!td) {
    status('input-info', 'test images not found (pass --data-dir to robustlab lab); drawing works');
    $<HTMLButtonElement>('pick').disabled = true;
    return;
  }
  const get = async (u: string) => new Uint8Array(await (await fetch(u)).arrayBuffer());
  const [im, lb] = await Promise.all([get(td.images), get(td.labels)]);
  test = await splitFromIdxBytes(im, lb, { imagesName: td.images, labelsName: td.labels });
  $<HTMLButtonElement>('pick').disabled = false;
}

async function selectDataset(name: string) {
  dataset = name;
  classNames = index.datasets[name].classNames;
  fillSelect(
    $('pick-class') as HTMLSelectElement,
    classNames.map((c, k) => [String(k), `${k} ${c}`]),
  );
  fillSelect(
    $('goal') as HTMLSelectElement,
    classNames.map((c, k) => [String(k), `${k} ${c}`]),
  );
  view?.terminate();
  attacker?.terminate();
  view = new Client();
  status('backend-info', 'loading models…');
  const [ready] = await Promise.all([
    view.request<'ready'>({ type: 'init', index, dataset, threads }),
    loadTestData(),
  ]);
  spawnAttacker();
  models = ready.models;
  const iso = globalThis.crossOriginIsolated ? 'cross-origin isolated' : 'not isolated';
  status(
    'backend-info',
    `${ready.backend}, ${ready.threads} thread(s), ${iso}; ${models.length} classifiers`,
  );
  if (ready.failed.length) status('input-info', `could not load: ${ready.failed.join('; ')}`);
  const target = $<HTMLSelectElement>('target-model');
  fillSelect(
    target,
    models.map((m) => [m.id, `${m.space} ${m.arch}`]),
  );
  const def = models.find((m) => m.space === 'image' && m.arch === '2L') ?? models[0];
  if (def) target.value = def.id;
  document.body.dataset.ready = '1';
  void initDefence();
  if (test) pickTestImage();
}

async function main() {
  setupDrawing();
  clearCanvas();
  const res = await fetch('/api/index.json');
  if (!res.ok) throw new Error(`the lab server did not send the run index (HTTP ${res.status})`);
  index = await res.json();
  const names = Object.keys(index.datasets);
  status('run-info', `run ${index.run}${index.preset ? ` (preset ${index.preset})` : ''}`);
  fillSelect(
    $('dataset') as HTMLSelectElement,
    names.map((n) => [n, n]),
  );
  fillSelect(
    $('attack') as HTMLSelectElement,
    ATTACKS.map((a) => [a.id, a.name]),
  );
  renderAttackParams();
  renderReport();
  $('dataset').addEventListener(
    'change',
    (e) => void selectDataset((e.target as HTMLSelectElement).value),
  );
  $('pick').addEventListener('click', pickTestImage);
  $('clear').addEventListener('click', clearCanvas);
  $('attack').addEventListener('change', renderAttackParams);
  $('run-attack').addEventListener('click', () => void runAttack());
  $('stop-attack').addEventListener('click', stopAttack);
  $('target-model').addEventListener('change', () => {
    renderPredictions(cleanPreds, null);
    chooseGoal();
    xAdv = null;
    void initDefence();
  });
  $('svd-slider').addEventListener('input', () => void updateDefence());
  for (const r of document.querySelectorAll('input[name="svd-mode"]'))
    r.addEventListener('change', () => void updateDefence());
  for (const b of document.querySelectorAll<HTMLButtonElement>('.tab'))
    b.addEventListener('click', () => {
      for (const o of document.querySelectorAll('.tab')) o.classList.toggle('active', o === b);
      for (const p of document.querySelectorAll('.tab-page'))
        p.classList.toggle('hidden', p.id !== `tab-${b.dataset.tab}`);
      if (b.dataset.tab === 'latent') void updateLatent().catch((e) => showError('input-info', e));
    });
  await selectDataset(names[0]);
}

main().catch((e) => {
  status('run-info', `error: ${(e as Error).message}`);
  console.error(e);
});
