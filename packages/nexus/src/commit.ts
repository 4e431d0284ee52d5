/**
 * Group commit across concurrent requests. A write is acknowledged only once the state log (and
 * the audit log) hold it and, with `persistence.fsync` on, after an fdatasync that covers it
 * (persistence.ts). Doing that per request cost every request a write to each file and a place
 * in the fdatasync queue, and every single allocation its own Yjs transaction: one update to
 * encode, log, checksum and relay to each peer. Here the requests that arrive in one turn of the
 * event loop share all of it:
 *
 *   flush()          everything written so far reaches the files in one write each, at the end of
 *                    the turn, followed by one group-committed fdatasync for all the callers;
 *   run(pools, fn)   fn runs at the end of the turn with the other calls queued meanwhile, inside
 *                    one open transaction per named pool document (as a bulk request does), then
 *                    one flush for all of them. Each call keeps its own result or error, its own
 *                    audit line and answer; the order of the decisions is the order of arrival.
 *
 * Nothing is acknowledged earlier than before: every caller still waits for the commit that
 * covers its write. A turn adds no waiting of its own (setImmediate runs right after the I/O
 * callbacks that delivered the requests).
 */

export interface CommitDeps {
  /** Write everything recorded so far to the files and resolve once it is durable (per policy). */
  commit(): Promise<void>;
  /** Run fn with one open transaction on each named pool document. */
  batch<T>(poolIds: readonly string[], fn: () => T): T;
}

export interface GroupCommit {
  flush(): Promise<void>;
  run<T>(poolIds: readonly string[], fn: () => T): Promise<T>;
}

interface Queued {
  poolIds: readonly string[];
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export function createGroupCommit(deps: CommitDeps): GroupCommit {
  let flushing: Promise<void> | undefined;
  let queue: Queued[] = [];

  const drain = () => {
    const items = queue;
    queue = [];
    const pools = new Set<string>();
    for (const it of items) for (const id of it.poolIds) pools.add(id);
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
    try {
      deps.batch([...pools], () => {
        for (const it of items) {
          try { outcomes.push({ ok: true, value: it.fn() }); } catch (err) { outcomes.push({ ok: false, err }); }
        }
      });
    } catch (err) {
      // The transaction itself failed as it closed (an observer threw): what did merge is logged
      // as usual, and every caller in the group learns of the failure.
      for (let i = outcomes.length; i < items.length; i++) outcomes.push({ ok: false, err });
      for (let i = 0; i < outcomes.length; i++) if (outcomes[i]!.ok) outcomes[i] = { ok: false, err };
    }
    // Failures are answered after the commit too: a call may have written before it threw.
    deps.commit().then(
      () => items.forEach((it, i) => { const o = outcomes[i]!; if (o.ok) it.resolve(o.value); else it.reject(o.err); }),
      (err: unknown) => { for (const it of items) it.reject(err); },
    );
  };

  return {
    flush() {
      flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        flushing = undefined;
        return deps.commit();
      });
      return flushing;
    },
    run<T>(poolIds: readonly string[], fn: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ poolIds, fn, resolve: resolve as (v: unknown) => void, reject });
        if (queue.length === 1) setImmediate(drain);
      });
    },
  };
}
