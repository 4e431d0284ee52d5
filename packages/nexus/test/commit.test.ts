/**
 * Group commit across concurrent requests (src/commit.ts): the calls of one event-loop turn run
 * together in one batch over the union of their pools, share one commit, and each is answered
 * with its own result or error, never before the commit that covers it.
 */
import { describe, expect, it } from 'vitest';
import { createGroupCommit } from '../src/commit.js';

function harness(opts: { failCommit?: boolean; failBatch?: boolean } = {}) {
  const log: string[] = [];
  const releases: Array<() => void> = [];
  let commits = 0;
  const group = createGroupCommit({
    commit: () => {
      commits++;
      log.push('commit');
      return new Promise<void>((resolve, reject) => { releases.push(() => (opts.failCommit ? reject(new Error('disk')) : resolve())); });
    },
    batch: (pools, fn) => {
      log.push(`batch ${[...pools].sort().join(',')}`);
      const r = fn();
      if (opts.failBatch) throw new Error('observer');
      return r;
    },
  });
  /** Completes the oldest commit still running. */
  return { group, log, commit: () => releases.shift()!(), commits: () => commits };
}

describe('group commit', () => {
  it('runs the calls of one turn in one batch over their pools, in order, with one commit', async () => {
    const h = harness();
    const settled: string[] = [];
    const a = h.group.run(['p1'], () => { h.log.push('a'); return 1; }).then((v) => { settled.push(`a=${v}`); });
    const b = h.group.run(['p2'], () => { h.log.push('b'); throw new Error('no'); }).catch((e: Error) => { settled.push(`b:${e.message}`); });
    const c = h.group.run(['p1'], () => { h.log.push('c'); return 3; }).then((v) => { settled.push(`c=${v}`); });
    await new Promise((r) => setImmediate(r));
    expect(h.log).toEqual(['batch p1,p2', 'a', 'b', 'c', 'commit']);
    // Nobody is answered before the commit, not even the call that failed.
    await new Promise((r) => setTimeout(r, 5));
    expect(settled).toEqual([]);
    h.commit();
    await Promise.all([a, b, c]);
    expect(settled).toEqual(['a=1', 'b:no', 'c=3']);
    expect(h.commits()).toBe(1);
  });

  it('a later turn is a new group', async () => {
    const h = harness();
    const first = h.group.run(['p1'], () => 1);
    await new Promise((r) => setImmediate(r));
    const second = h.group.run(['p1'], () => 2);
    await new Promise((r) => setImmediate(r));
    expect(h.log).toEqual(['batch p1', 'commit', 'batch p1', 'commit']);
    h.commit();
    h.commit();
    expect(await Promise.all([first, second])).toEqual([1, 2]);
  });

  it('a failed commit fails every call of its group', async () => {
    const h = harness({ failCommit: true });
    const calls = [h.group.run(['p1'], () => 1), h.group.run(['p1'], () => 2)];
    await new Promise((r) => setImmediate(r));
    h.commit();
    for (const c of calls) await expect(c).rejects.toThrow('disk');
  });

  it('a transaction that fails as it closes fails every call in it', async () => {
    const h = harness({ failBatch: true });
    const calls = [h.group.run(['p1'], () => 1), h.group.run(['p1'], () => { throw new Error('own'); })];
    await new Promise((r) => setImmediate(r));
    h.commit();
    await expect(calls[0]).rejects.toThrow('observer');
    await expect(calls[1]).rejects.toThrow('own');
  });

  it('flush: the writes of one turn share one commit, made after all of them', async () => {
    const h = harness();
    const flushes = [h.group.flush(), h.group.flush(), h.group.flush()];
    expect(h.commits()).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(h.commits()).toBe(1);
    const later = h.group.flush(); // after the commit started: waits for the next one
    h.commit();
    await Promise.all(flushes);
    await new Promise((r) => setImmediate(r));
    expect(h.commits()).toBe(2);
    h.commit();
    await later;
  });
});
