// Ring-buffer consumption through the event loop: records arrive as Buffers in batches.
import { native, wrapNative } from './native.js';

export class RingReader {
  private handle: number;

  constructor(mapFd: number, onRecords: (records: Buffer[]) => void, opts: { keepAlive?: boolean } = {}) {
    this.handle = wrapNative(() => native().ringOpen(mapFd, onRecords));
    if (!opts.keepAlive) native().ringUnref(this.handle);
  }

  /** Drains what is there now, synchronously; returns the number of records. */
  poll(): number {
    return this.handle ? native().ringPoll(this.handle) : 0;
  }

  close(): void {
    if (!this.handle) return;
    native().ringClose(this.handle);
    this.handle = 0;
  }
}
