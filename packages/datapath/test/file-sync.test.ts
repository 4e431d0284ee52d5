// The dedicated fdatasync thread: results come back on the event loop in request order, errors
// carry the errno, close() finishes what was queued, and an idle thread keeps no process alive.
import { afterEach, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileSyncThread } from '../src/file-sync.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempFile(): { fd: number; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bng-filesync-'));
  dirs.push(dir);
  const path = join(dir, 'f');
  return { fd: openSync(path, 'w'), path };
}

describe('FileSyncThread', () => {
  it('syncs on its own thread and calls back in request order; a bad descriptor fails with its errno', async () => {
    const t = new FileSyncThread();
    // root may run it SCHED_FIFO; elsewhere it falls back to a nice value or to normal
    expect(['fifo', 'nice-10', 'normal']).toContain(t.priority);
    const { fd } = tempFile();
    const order: number[] = [];
    const errors: Array<Error | undefined> = [];
    try {
      await new Promise<void>((resolve) => {
        for (let i = 0; i < 50; i++) {
          writeSync(fd, `line ${i}\n`);
          t.fdatasync(fd, (err) => {
            order.push(i);
            errors.push(err);
            if (order.length === 50) resolve();
          });
        }
      });
      expect(order).toEqual([...Array(50).keys()]);
      expect(errors.every((e) => e === undefined)).toBe(true);
      expect(t.pending).toBe(0);
      const bad = await new Promise<Error | undefined>((resolve) => t.fdatasync(1_000_000, resolve));
      expect(bad).toMatchObject({ code: 'BNG_ERR_SYSCALL', details: { errno: 9, syscall: 'fdatasync' } });
    } finally {
      closeSync(fd);
      t.close();
    }
  });

  it('close() waits for the queued syncs and delivers them; afterwards requests are refused', () => {
    const t = new FileSyncThread();
    const { fd } = tempFile();
    const done: number[] = [];
    for (let i = 0; i < 5; i++) t.fdatasync(fd, () => done.push(i));
    t.close();
    expect(done).toEqual([0, 1, 2, 3, 4]);
    expect(() => t.fdatasync(fd, () => undefined)).toThrow(/closed/);
    t.close(); // twice is harmless
    closeSync(fd);
  });

  it('an idle sync thread does not keep the process alive; one with a sync in flight does until it ends', () => {
    const mod = fileURLToPath(new URL('../dist/file-sync.js', import.meta.url));
    const script = `
      import { FileSyncThread } from ${JSON.stringify(mod)};
      import { openSync } from 'node:fs';
      const t = new FileSyncThread();
      const fd = openSync(process.argv[1], 'w');
      t.fdatasync(fd, (err) => console.log('synced', err === undefined));
    `;
    const { path } = tempFile();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, path], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('synced true');
  });
});
