/** What the lab server tells the page about a run (/api/index.json). Types only; browser-safe. */
export interface LabModelEntry {
  /** `<dataset>/<space>/<arch>` */
  id: string;
  dataset: string;
  space: string;
  arch: string;
  /** URL of the model directory (ends in /). */
  url: string;
  testAccuracy: number | null;
  /** Projection settings the codes of this space were computed with (steps, lr, norm). */
  projection: { steps?: number; lr?: number; norm?: string } | null;
}

export interface LabIndex {
  run: string;
  preset: string | null;
  datasets: Record<
    string,
    {
      classNames: string[];
      models: LabModelEntry[];
      /** URLs of the test images and labels (IDX, maybe gzip'd), or null if not found. */
      testData: { images: string; labels: string } | null;
    }
  >;
  report: {
    html: string | null;
    claims: { dataset: string; claim: string; supported: boolean | null; evidence: string }[];
    figures: string[];
  };
}
