/**
 * NumPy's .npy format (version 1.0), written and read here so that other tools, Python ones
 * included, can load the adversarial examples with `numpy.load`:
 *
 *   "\x93NUMPY" 0x01 0x00, header length (uint16 LE), then an ASCII dict
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (n, 28, 28), } padded with spaces and
 *   ended by '\n' so that the data starts at a multiple of 64 bytes; then the raw C-order data,
 *   little-endian.
 *
 * Browser-safe: returns bytes; the caller writes the file.
 */
export type NpyArray = Float32Array | Int32Array | Uint8Array;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

function descrOf(a: NpyArray): string {
  if (a instanceof Float32Array) return '<f4';
  if (a instanceof Int32Array) return '<i4';
  return '|u1';
}

/** The .npy bytes of `data` with the given C-order shape. */
export function encodeNpy(data: NpyArray, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new RangeError(
      `shape [${shape.join(', ')}] holds ${count} values, data has ${data.length}`,
    );
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descrOf(data)}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const pre = MAGIC.length + 2 + 2;
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  header = header.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  const body = new DataView(out.buffer, total);
  if (data instanceof Float32Array) data.forEach((v, i) => body.setFloat32(4 * i, v, true));
  else if (data instanceof Int32Array) data.forEach((v, i) => body.setInt32(4 * i, v, true));
  else out.set(data, total);
  return out;
}

/** Parse .npy bytes written by numpy or by `encodeNpy` (f4, i4, u1, i8 → Int32, C order). */
export function decodeNpy(bytes: Uint8Array): { data: NpyArray; shape: number[]; descr: string } {
  for (let i = 0; i < MAGIC.length; i++)
    if (bytes[i] !== MAGIC[i]) throw new RangeError('not a .npy file (bad magic)');
  const major = bytes[6];
  const hlen =
    major === 1
      ? bytes[8] | (bytes[9] << 8)
      : new DataView(bytes.buffer, bytes.byteOffset + 8, 4).getUint32(0, true);
  const start = major === 1 ? 10 : 12;
  const header = String.fromCharCode(...bytes.subarray(start, start + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeM = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeM === undefined)
    throw new RangeError(`bad .npy header: ${header}`);
  if (fortran === 'True') throw new RangeError('Fortran-order .npy is not supported');
  const shape = shapeM
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  const view = new DataView(bytes.buffer, bytes.byteOffset + off);
  let data: NpyArray;
  if (descr === '<f4')
    data = Float32Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, true));
  else if (descr === '<i4')
    data = Int32Array.from({ length: count }, (_, i) => view.getInt32(4 * i, true));
  else if (descr === '<i8')
    data = Int32Array.from({ length: count }, (_, i) => Number(view.getBigInt64(8 * i, true)));
  else if (descr === '|u1') data = Uint8Array.from(bytes.subarray(off, off + count));
  else throw new RangeError(`unsupported .npy dtype ${descr}`);
  return { data, shape, descr };
}
