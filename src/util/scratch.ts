/**
 * Reusable work arrays, held weakly. A hot loop that needs the same large buffers call after
 * call (an attack's iterates: 1000 MNIST rows are 3 MB an array) takes them from a pool instead
 * of allocating them each time: in V8 a fresh typed array costs its zeroing and, through the
 * external-memory pressure that such arrays add up to, a full garbage collection every call or
 * two (~6 ms each at robustlab's heap size). Weak, so that a buffer nobody uses is freed at the
 * next major collection and nothing large is kept for good. Contents are stale: a caller writes
 * what it reads, and never hands a pooled view out beyond its own call. Browser-safe.
 */
export class ScratchPool {
  // the ArrayBuffers, which the views handed out keep alive while they are in use
  private readonly slots = new Map<string, WeakRef<ArrayBuffer>>();

  /** A [length] view of the pool's buffer `name` (its old contents, or zeros when new). */
  f32(name: string, length: number): Float32Array {
    let buf = this.slots.get(name)?.deref();
    if (!buf || buf.byteLength < length * 4) {
      buf = new ArrayBuffer(length * 4);
      this.slots.set(name, new WeakRef(buf));
    }
    return new Float32Array(buf, 0, length);
  }
}
