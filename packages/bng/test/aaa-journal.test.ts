import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openAccountingJournal } from '../src/aaa/index.js';

const dirs: string[] = [];
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'bng-journal-')); dirs.push(d); return join(d, 'sub', 'acct.journal'); };
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });
const rec = (sessionId: string, statusType = 1) => ({ realm: 'ispa', sessionId, statusType, eventMs: 1, attrs: [['User-Name', 'u'] as const, ['Class', { hex: '0102' }] as const] });

describe('accounting journal', () => {
  it('keeps unacknowledged records across reopen, in order, and ignores a torn last line', async () => {
    const path = tmp();
    const j = await openAccountingJournal(path);
    const a = await j.append(rec('s1'));
    const b = await j.append(rec('s2'));
    const c = await j.append(rec('s1', 2));
    await j.ack(b.seq);
    await j.close();
    appendFileSync(path, '{"op":"add","rec":{"seq":99,"rea'); // crash in the middle of a write
    const j2 = await openAccountingJournal(path);
    expect(j2.torn).toBe(1);
    expect(j2.pending().map((r) => r.seq)).toEqual([a.seq, c.seq]);
    expect(j2.pending()[0]!.attrs[1]).toEqual(['Class', { hex: '0102' }]);
    const d = await j2.append(rec('s3'));
    expect(d.seq).toBeGreaterThan(c.seq); // sequence numbers never go back
    await j2.close();
    // Reopening compacts: only live records remain in the file.
    const j3 = await openAccountingJournal(path);
    expect(readFileSync(path, 'utf8').trim().split('\n').length).toBe(3);
    await j3.close();
  });

  it('group-commits concurrent appends and compacts once acknowledgements dominate', async () => {
    const path = tmp();
    const j = await openAccountingJournal(path, { compactAfterAcks: 50 });
    const recs = await Promise.all(Array.from({ length: 200 }, (_, i) => j.append(rec(`s${i}`))));
    expect(new Set(recs.map((r) => r.seq)).size).toBe(200);
    await Promise.all(recs.slice(0, 190).map((r) => j.ack(r.seq)));
    await j.append(rec('last'));
    expect(j.pending().length).toBe(11);
    const lines = readFileSync(path, 'utf8').trim().split('\n').length;
    expect(lines).toBeLessThan(200 + 190);
    await j.close();
    const j2 = await openAccountingJournal(path);
    expect(j2.pending().length).toBe(11);
    await j2.close();
  });
});
