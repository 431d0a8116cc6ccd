// Development entry: `npx tsx src/cli/run-dev.ts <args>` runs the CLI from source.
import { main } from './main.js';
await main(process.argv.slice(2));
