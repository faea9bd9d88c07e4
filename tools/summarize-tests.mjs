// Adds up the vitest JSON reports written by every project and prints one closing line.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.reports';
let passed = 0;
let failed = 0;
let skipped = 0;
let files = 0;
if (existsSync(dir)) {
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    const report = JSON.parse(readFileSync(join(dir, name), 'utf8'));
    passed += report.numPassedTests ?? 0;
    failed += report.numFailedTests ?? 0;
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    files += 1;
  }
}
if (files === 0) {
  console.error('no test reports found');
  process.exit(1);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
