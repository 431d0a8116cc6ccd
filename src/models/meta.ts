/** robustlab.json: what a saved model directory says about itself (browser-safe). */
export interface ModelMeta {
  kind: 'classifier' | 'ae' | 'vae';
  dataset: string;
  /** 'image' or a latent space such as 'ae-encoding'. */
  space: string;
  arch?: string;
  hidden?: number;
  seed: number;
  epochs: number;
  accuracy?: { train: number; test: number };
  trainSeconds?: number;
  /** Free-form settings (latent method, VAE code mode, ...). */
  settings?: Record<string, unknown>;
  /** Filled in by saveModel. */
  parts?: string[];
  robustlab?: string;
  createdAt?: string;
}
