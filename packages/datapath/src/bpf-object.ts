// Program lifecycle: open an object, set load-time constants, reuse pinned maps, load, find
// programs and maps, close. Map sizes are checked against the generated ABI before anything
// touches them (BNG_ERR_ABI_MISMATCH).
import { BngError } from '@bng/api';
import { maps as abiMaps, structs, type StructName, type MapName } from './generated/abi.js';
import { native, wrapNative } from './native.js';
import { encodeStruct, type StructValue } from './struct.js';
import { BpfMap } from './map.js';

export interface OpenOptions {
  /** .rodata variables by name, e.g. { bng_cfg: { struct: 'bng_config', value: {...} } } */
  constants?: Record<string, { struct: StructName; value: StructValue }>;
  /** map name -> fd of an existing (pinned) map to reuse instead of creating a new one */
  reuse?: Record<string, number>;
  maxEntries?: Record<string, number>;
}

export class BpfObject {
  readonly path: string;
  private handle: number;
  private loaded = false;

  private constructor(path: string, handle: number) {
    this.path = path;
    this.handle = handle;
  }

  static open(path: string, opts: OpenOptions = {}): BpfObject {
    const n = native();
    const h = wrapNative(() => n.objectOpen(path));
    const obj = new BpfObject(path, h);
    try {
      obj.checkAbi();
      if (opts.constants) obj.setConstants(opts.constants);
      for (const [m, count] of Object.entries(opts.maxEntries ?? {})) wrapNative(() => n.mapSetMaxEntries(h, m, count));
      for (const [m, fd] of Object.entries(opts.reuse ?? {})) wrapNative(() => n.mapReuseFd(h, m, fd));
      return obj;
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Refuses an object whose maps disagree with the layouts this build was generated from. */
  private checkAbi(): void {
    for (const m of native().objectMaps(this.handle)) {
      const want = (abiMaps as Record<string, { keySize: number; valueSize: number }>)[m.name];
      if (!want) continue; // internal maps (.rodata ...) are checked through their variables
      if (want.keySize !== m.keySize || want.valueSize !== m.valueSize) {
        throw new BngError(
          'BNG_ERR_ABI_MISMATCH',
          `${this.path}: map ${m.name} has key/value ${m.keySize}/${m.valueSize} bytes, this build expects ${want.keySize}/${want.valueSize}; rebuild (make) so the object and the daemon agree`,
          { map: m.name },
        );
      }
    }
  }

  private setConstants(constants: NonNullable<OpenOptions['constants']>): void {
    const n = native();
    const vars = wrapNative(() => n.objectSectionVars(this.handle, '.rodata'));
    const data = wrapNative(() => n.mapGetInitialValue(this.handle, '.rodata'));
    for (const [name, { struct, value }] of Object.entries(constants)) {
      const v = vars.find((x) => x.name === name);
      if (!v) throw new BngError('BNG_ERR_BPF_OBJECT', `${this.path}: no load-time constant ${name}`);
      if (v.size !== structs[struct].size) {
        throw new BngError('BNG_ERR_ABI_MISMATCH', `${this.path}: ${name} is ${v.size} bytes, ${struct} is ${structs[struct].size}`);
      }
      data.fill(0, v.offset, v.offset + v.size);
      encodeStruct(struct, value, data, v.offset);
    }
    wrapNative(() => n.mapSetInitialValue(this.handle, '.rodata', data));
  }

  load(): this {
    wrapNative(() => native().objectLoad(this.handle));
    this.loaded = true;
    return this;
  }

  programFd(name: string): number {
    const p = native().objectPrograms(this.handle).find((x) => x.name === name);
    if (!p) throw new BngError('BNG_ERR_BPF_OBJECT', `${this.path}: no program ${name}`);
    if (p.fd < 0) throw new BngError('BNG_ERR_BPF_OBJECT', `${this.path}: program ${name} is not loaded`);
    return p.fd;
  }

  mapFd(name: string): number {
    const m = native().objectMaps(this.handle).find((x) => x.name === name);
    if (!m || m.fd < 0) throw new BngError('BNG_ERR_BPF_OBJECT', `${this.path}: no loaded map ${name}`);
    return m.fd;
  }

  /** A typed view of one of the object's maps; the fd is duplicated so it outlives close(). */
  map<K extends StructValue | number, V>(name: MapName): BpfMap<K, V> {
    if (!this.loaded) throw new BngError('BNG_ERR_BPF_OBJECT', 'load() the object first');
    return BpfMap.fromFd<K, V>(name, native().dupFd(this.mapFd(name)));
  }

  close(): void {
    if (this.handle) native().objectClose(this.handle);
    this.handle = 0;
  }
}
