/**
 * tf.tidy for a computation whose values are wanted on the host. Returning a typed array (or an
 * array of them) from tf.tidy makes tfjs walk it for tensors: a for-in over every element and
 * a Set insert per value, and V8 then deoptimises and re-optimises that walker again and again
 * (its background recompiles took a core from OpenBLAS's second thread: the fused attack step
 * ran 2× slower, PGD's random start on 1000 images cost ~0.2 s). Here tidy returns the tensor
 * and its values are read outside, so tidy sees one tensor and nothing else.
 */
import * as tf from '@tensorflow/tfjs';

/** The values of the float32 tensor `fn` returns, every intermediate freed; the tensor too. */
export function tidyData(fn: () => tf.Tensor): Float32Array {
  const t = tf.tidy(fn);
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}
