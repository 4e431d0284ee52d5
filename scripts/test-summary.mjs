#!/usr/bin/env node
// Prints the closing line CI reads ("N passed, N failed, N skipped") from vitest's JSON report.
// A test file that failed to load counts as one failure.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
let r;
try {
  r = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.log(`tests: 0 passed, 1 failed (no report at ${file}: ${e.message})`);
  process.exit(1);
}
const brokenFiles = (r.testResults ?? []).filter(
  (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
);
for (const f of brokenFiles) console.log(`failed to run: ${f.name}: ${(f.message ?? '').split('\n')[0]}`);
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles.length} failed, ${skipped} skipped`);
