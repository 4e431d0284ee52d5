/**
 * The node runtime `bng run` wants, decided from its configuration before anything is opened.
 *
 * V8 runs compilation and parts of garbage collection on helper threads. Given more CPUs they
 * take that work off the event loop. Confined to one CPU (taskset, a cpuset) they cannot: each
 * time one runs, the event loop waits for the CPU it was using, and every request queued
 * meanwhile waits with it. Measured in bench/dhcp with the daemon pinned to one core: the event
 * loop waited 200 to 390 ms per 10 s step for the CPU with the helpers, 30 to 70 ms without,
 * and the client p99 at 3,000 new clients/s fell from 9.4 to 4.3 ms (docs/fastpath.md). Node
 * takes that choice only on its command line (`--single-threaded`; setting it at run time
 * aborts V8), so the daemon replaces itself through execve with the flag added: same PID, same
 * stdio, nothing opened yet.
 */
import { availableParallelism } from 'node:os';
import { execReplace } from '@bng/datapath';

export type V8Threads = 'auto' | 'single' | 'pool';

/** the node flag that disables V8's helper threads */
export const SINGLE_THREADED_FLAG = '--single-threaded';

/** whether the process should run under `--single-threaded` for this setting and CPU count */
export function wantsSingleThreaded(setting: V8Threads, cpus: number): boolean {
  return setting === 'single' || (setting === 'auto' && cpus === 1);
}

/** node's flags chose either way (`--single-threaded` or `--no-single-threaded`): the operator's word stands */
function chosenOnCommandLine(execArgv: readonly string[]): boolean {
  return execArgv.some((a) => a === SINGLE_THREADED_FLAG || a === '--no-single-threaded');
}

/** the command line that restarts this process with the flag, or undefined when none is needed */
export function reexecArgv(setting: V8Threads, cpus: number, execPath: string, execArgv: readonly string[], argv: readonly string[]): string[] | undefined {
  if (!wantsSingleThreaded(setting, cpus) || chosenOnCommandLine(execArgv)) return undefined;
  return [execPath, SINGLE_THREADED_FLAG, ...execArgv, ...argv.slice(1)];
}

/**
 * How this process runs V8 (`single` or `pool`), and whether that is what the setting asks for
 * here (or what node's own flags chose): false when it was started some other way than `bng run`.
 */
export function v8ThreadsInEffect(setting: V8Threads, cpus: number, execArgv: readonly string[]): { v8Threads: 'single' | 'pool'; asConfigured: boolean } {
  const v8Threads = execArgv.includes(SINGLE_THREADED_FLAG) ? 'single' : 'pool';
  return { v8Threads, asConfigured: chosenOnCommandLine(execArgv) || wantsSingleThreaded(setting, cpus) === (v8Threads === 'single') };
}

/**
 * Restarts the process under `--single-threaded` when the setting asks for it; returns when it
 * does not (or cannot: the daemon then runs as it is and says why through `onFailure`).
 */
export function applyV8Threads(setting: V8Threads, onFailure: (err: Error) => void): void {
  const args = reexecArgv(setting, availableParallelism(), process.execPath, process.execArgv, process.argv);
  if (args === undefined) return;
  const env = Object.entries(process.env)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  try {
    execReplace(process.execPath, args, env);
  } catch (e) {
    onFailure(e as Error);
  }
}
