/**
 * Test-only reference attacks with the common attack signature: a plain untargeted PGD on the
 * cross-entropy (Madry et al., no random start, fixed step 2.5ε/steps) and FGSM as its one-step
 * case. They let the evaluation tests run without depending on the attack files' tuning; the
 * CLI and the docs use the real attacks in src/attacks. Node only (the fixture reads MNIST).
 */
import * as tf from '@tensorflow/tfjs';
import { softmaxCrossEntropyRows } from '../backend/host-kernels.js';
import { runAttack, type AttackResult } from '../attacks/base.js';
import { projectToBall, steepestDirection, type Norm } from '../attacks/norms.js';
import { loadDataset } from '../data/node-io.js';
import { MlpClassifier, type Classifier } from '../models/classifier.js';
import { trainClassifier } from '../models/train.js';
import { TEST_DATA_DIR } from './fixtures.js';

export interface TestPgdOptions {
  eps?: number;
  norm?: Norm;
  steps?: number;
  stepSize?: number;
  silent?: boolean;
}

export function testPgd(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: TestPgdOptions = {},
): AttackResult {
  const eps = o.eps ?? 0.3;
  const norm = o.norm ?? 'linf';
  const steps = o.steps ?? 20;
  const alpha = o.stepSize ?? (2.5 * eps) / steps;
  return runAttack(
    clf,
    x0,
    n,
    labels,
    ({ x, x0: xs, labels: lab }) => {
      let logits: tf.Tensor2D | undefined;
      const g = tf.grad((xv: tf.Tensor) => {
        logits = tf.keep(clf.logits(xv as tf.Tensor2D));
        return tf.sum(softmaxCrossEntropyRows(logits, lab));
      })(x) as tf.Tensor2D;
      const next = projectToBall(
        tf.add(x, tf.mul(steepestDirection(g, norm), alpha)) as tf.Tensor2D,
        xs,
        eps,
        norm,
      );
      return { update: tf.sub(next, x), slots: [], logits };
    },
    { targeted: false, clampMin: 0, clampMax: 1, maxSteps: steps, confidence: 1, silent: true },
  );
}

export function testFgsm(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: TestPgdOptions = {},
): AttackResult {
  return testPgd(clf, x0, n, labels, { ...o, steps: 1, stepSize: o.eps ?? 0.3 });
}

/** A small real LRL on real MNIST (first `train` images, a few epochs), and test points. */
export async function smallMnistLrl(
  o: { train?: number; test?: number; epochs?: number; hidden?: number; seed?: number } = {},
): Promise<{ clf: MlpClassifier; x: Float32Array; y: Int32Array; n: number }> {
  const ds = await loadDataset('mnist', {
    dataDir: TEST_DATA_DIR,
    limitTrain: o.train ?? 10000,
    limitTest: o.test ?? 500,
  });
  const clf = MlpClassifier.create('LRL', 784, { hidden: o.hidden ?? 64, seed: o.seed ?? 1 });
  trainClassifier(
    clf,
    clf.net.variables(),
    { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 },
    { epochs: o.epochs ?? 3, batchSize: 100, seed: o.seed ?? 1, silent: true },
  );
  return { clf, x: ds.test.images, y: ds.test.labels, n: ds.test.n };
}
