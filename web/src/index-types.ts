/** The JSON the lab server sends at /api/index.json (mirrors src/cli/lab-server.ts). */
export type { LabIndex, LabModelEntry } from '../../src/cli/lab-index.js';
