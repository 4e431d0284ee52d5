// fdatasync on a dedicated native thread (see SyncerMain in native/binding.cc), results delivered
// on the event loop in request order. For a journal whose replies wait for the sync: the event
// loop never blocks on the disk, and the thread does not wait for a turn on a busy CPU the way
// libuv's pool threads do (it runs SCHED_FIFO when the process may, else at nice -10).
import { BngError } from '@bng/api';
import { native, wrapNative } from './native.js';

/** what scheduling the sync thread got: real-time FIFO, a raised nice value, or none */
export type SyncThreadPriority = 'fifo' | 'nice-10' | 'normal';

export class FileSyncThread {
  readonly priority: SyncThreadPriority;
  private handle: number;
  private pollHandle: number;
  private next = 1;
  private readonly waiting = new Map<number, (err?: Error) => void>();

  constructor() {
    const [handle, efd, priority] = wrapNative(() => native().syncerOpen());
    this.handle = handle;
    this.priority = priority as SyncThreadPriority;
    this.pollHandle = native().pollStart(efd, () => this.onDone());
    // only a sync in flight keeps the process alive
    native().pollRef(this.pollHandle, false);
  }

  /** requests in flight */
  get pending(): number {
    return this.waiting.size;
  }

  /** fdatasync(fd) on the thread; `cb` runs on the event loop with the error, if any */
  fdatasync(fd: number, cb: (err?: Error) => void): void {
    if (this.handle === 0) throw new BngError('BNG_ERR_SYSCALL', 'fdatasync requested after the sync thread was closed', { syscall: 'fdatasync' });
    const token = this.next++;
    if (this.waiting.size === 0) native().pollRef(this.pollHandle, true);
    this.waiting.set(token, cb);
    native().syncerRequest(this.handle, fd, token);
  }

  private onDone(): void {
    if (this.handle !== 0) this.deliver(native().syncerDone(this.handle));
  }

  private deliver(done: number[]): void {
    for (let i = 0; i < done.length; i += 2) {
      const token = done[i]!;
      const errno = done[i + 1]!;
      const cb = this.waiting.get(token);
      if (cb === undefined) continue;
      this.waiting.delete(token);
      if (this.waiting.size === 0 && this.handle !== 0) native().pollRef(this.pollHandle, false);
      cb(errno === 0 ? undefined : new BngError('BNG_ERR_SYSCALL', `fdatasync: errno ${errno}`, { errno, syscall: 'fdatasync' }));
    }
  }

  /** Waits for the syncs already queued (their callbacks run now), then stops the thread. */
  close(): void {
    if (this.handle === 0) return;
    native().pollStop(this.pollHandle);
    const h = this.handle;
    this.handle = 0;
    // joins the thread once its queue is empty, and hands back what finished meanwhile
    this.deliver(native().syncerClose(h));
  }
}
