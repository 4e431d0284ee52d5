// docs/errors.md is what operators read: it must list every code the catalogue has.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '@bng/api';

describe('error catalogue', () => {
  it('docs/errors.md lists every code with its meaning', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, meaning] of Object.entries(ErrorCodes)) expect(doc).toContain(`| ${code} | ${meaning} |`);
  });
});
