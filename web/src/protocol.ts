/** Messages between the page and its compute workers (one for views, one for attacks). */
import type { LabIndex, LabModelEntry } from './index-types.js';

export interface AttackParams {
  attack: string;
  /** Goal class for targeted attacks, or null (untargeted: leave the true/predicted class). */
  goal: number | null;
  /** The class the attack should leave (untargeted) = the model's clean label. */
  label: number;
  values: Record<string, number>;
}

export type Request =
  | { type: 'init'; index: LabIndex; dataset: string; threads: boolean }
  | { type: 'predictAll'; x: Float32Array }
  | { type: 'attack'; model: string; x: Float32Array; n: number; params: AttackParams }
  | { type: 'defendInit'; model: string; x: Float32Array; y: Int32Array; n: number }
  | {
      type: 'defend';
      model: string;
      mode: 'zero' | 'scale';
      fraction: number;
      xAdv: Float32Array | null;
    }
  | { type: 'latent'; x: Float32Array };

export interface Prediction {
  id: string;
  probs: number[];
  label: number;
}

export type Reply =
  | { type: 'ready'; backend: string; threads: number; models: LabModelEntry[]; failed: string[] }
  | { type: 'predictions'; predictions: Prediction[] }
  | { type: 'progress'; done: number; total: number; extra: string }
  | {
      type: 'attacked';
      xAdv: Float32Array;
      success: boolean[];
      steps: number[];
      finalLabel: number[];
      goalProb: number[];
      l2: number[];
      linf: number[];
      seconds: number;
    }
  | { type: 'defendReady'; model: string; accuracy: number; n: number; seconds: number }
  | { type: 'defended'; accuracy: number; n: number; label: number | null; probs: number[] | null }
  | { type: 'latent'; images: { name: string; x: Float32Array }[] }
  | { type: 'error'; message: string };
