/**
 * RADIUS dictionaries in the FreeRADIUS text format (a subset: VENDOR, BEGIN-VENDOR/END-VENDOR,
 * ATTRIBUTE, VALUE, $INCLUDE), so an operator adds a vendor by dropping in its dictionary file,
 * without code. Attributes are typed from here; unknown attributes decode as octets.
 */

export const DataTypes = [
  'string', 'octets', 'ipaddr', 'integer', 'date', 'ipv6addr', 'ipv6prefix', 'ifid',
  'integer64', 'byte', 'short', 'signed', 'ether',
] as const;
export type DataType = (typeof DataTypes)[number];

export interface AttributeDef {
  readonly name: string;
  /** 0 for standard attributes, else the IANA enterprise number (RFC 2865 §5.26). */
  readonly vendorId: number;
  readonly type: number;
  readonly dataType: DataType;
  /** 1: User-Password style (RFC 2865 §5.2); 2: salted (RFC 2868 §3.5 / RFC 2548 §2.4.2); 0: none. */
  readonly encrypt: 0 | 1 | 2;
  /** RFC 2868 §3.1 tag octet present. */
  readonly hasTag: boolean;
  readonly valuesByName: Map<string, number>;
  readonly namesByValue: Map<number, string>;
}

export interface VendorDef {
  readonly name: string;
  readonly id: number;
  /** Octets of the vendor type field (format=t,l; RFC 2865 §5.26 recommends 1). */
  readonly typeLength: 1 | 2 | 4;
  /** Octets of the vendor length field (0, 1 or 2). */
  readonly lengthLength: 0 | 1 | 2;
}

export interface DictionaryParseIssue {
  readonly line: number;
  readonly text: string;
  readonly reason: string;
}

export class Dictionary {
  private readonly byName = new Map<string, AttributeDef>();
  private readonly byCode = new Map<string, AttributeDef>();
  /** Standard attributes (vendor 0) by type, for decoding without building a key. */
  private readonly standard: (AttributeDef | undefined)[] = new Array<AttributeDef | undefined>(256).fill(undefined);
  /** Names as callers spell them, to skip toLowerCase() on repeated lookups; cleared on every change. */
  private readonly lookups = new Map<string, AttributeDef | undefined>();
  private readonly vendorsByName = new Map<string, VendorDef>();
  private readonly vendorsById = new Map<number, VendorDef>();

  /** Adds a vendor; an existing vendor with the same id is replaced. */
  addVendor(v: VendorDef): void {
    this.vendorsByName.set(v.name.toLowerCase(), v);
    this.vendorsById.set(v.id, v);
  }

  /** Adds an attribute. For duplicate codes the first name stays canonical for decoding. */
  addAttribute(def: AttributeDef): void {
    this.lookups.clear();
    this.byName.set(def.name.toLowerCase(), def);
    const key = codeKey(def.vendorId, def.type);
    if (!this.byCode.has(key)) {
      this.byCode.set(key, def);
      if (def.vendorId === 0 && Number.isInteger(def.type) && def.type >= 0 && def.type < 256) this.standard[def.type] = def;
    }
  }

  attribute(name: string): AttributeDef | undefined {
    const hit = this.lookups.get(name);
    if (hit !== undefined) return hit;
    const def = this.byName.get(name.toLowerCase());
    // Only names that exist are remembered, and only so many (names can come from input).
    if (def !== undefined && this.lookups.size < 4096) this.lookups.set(name, def);
    return def;
  }

  attributeByCode(vendorId: number, type: number): AttributeDef | undefined {
    if (vendorId === 0 && (type & 0xff) === type) return this.standard[type];
    return this.byCode.get(codeKey(vendorId, type));
  }

  vendor(nameOrId: string | number): VendorDef | undefined {
    return typeof nameOrId === 'number' ? this.vendorsById.get(nameOrId) : this.vendorsByName.get(nameOrId.toLowerCase());
  }

  /** Number of attribute names known (aliases included). */
  get size(): number {
    return this.byName.size;
  }
}

function codeKey(vendorId: number, type: number): string {
  return `${vendorId}:${type}`;
}

export interface ParseDictionaryOptions {
  /** Resolves `$INCLUDE name` lines to their text; without it they are reported and skipped. */
  include?: (name: string) => string;
}

/**
 * Parses dictionary text into `dict` (mutated) and returns the lines that were skipped: extended
 * (RFC 6929) attributes, tlv/struct types and unknown vendors are reported, never thrown.
 */
export function parseDictionary(text: string, dict: Dictionary, options: ParseDictionaryOptions = {}): DictionaryParseIssue[] {
  const issues: DictionaryParseIssue[] = [];
  const vendorStack: VendorDef[] = [];
  const pendingValues: Array<{ line: number; text: string; attr: string; name: string; value: number }> = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const hash = raw.indexOf('#');
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (body === '') continue;
    const f = body.split(/\s+/);
    const kw = (f[0] ?? '').toUpperCase();
    const issue = (reason: string): void => {
      issues.push({ line: i + 1, text: raw, reason });
    };
    switch (kw) {
      case '$INCLUDE':
      case '$INCLUDE-': {
        const name = f[1];
        if (name === undefined) { issue('missing include name'); break; }
        if (!options.include) { issue('no include resolver'); break; }
        let sub: string;
        try {
          sub = options.include(name);
        } catch (e) {
          if (kw === '$INCLUDE-') break; // optional include
          issue(`include failed: ${(e as Error).message}`);
          break;
        }
        issues.push(...parseDictionary(sub, dict, options));
        break;
      }
      case 'VENDOR': {
        const name = f[1];
        const id = parseNumber(f[2]);
        if (name === undefined || id === undefined || id < 0 || id > 0xffffffff) { issue('bad VENDOR line'); break; }
        const fmt = parseFormat(f[3]);
        if (fmt === undefined) { issue('unsupported vendor format'); break; }
        dict.addVendor({ name, id, ...fmt });
        break;
      }
      case 'BEGIN-VENDOR': {
        const v = f[1] !== undefined ? dict.vendor(f[1]) : undefined;
        if (!v) { issue('BEGIN-VENDOR of an unknown vendor'); vendorStack.push({ name: '?', id: -1, typeLength: 1, lengthLength: 1 }); break; }
        vendorStack.push(v);
        break;
      }
      case 'END-VENDOR':
        vendorStack.pop();
        break;
      case 'ATTRIBUTE': {
        const name = f[1];
        const num = f[2];
        const typeText = f[3];
        if (name === undefined || num === undefined || typeText === undefined) { issue('short ATTRIBUTE line'); break; }
        const type = parseNumber(num);
        if (type === undefined) { issue('extended or nested attribute number (not supported)'); break; }
        const baseType = typeText.replace(/\[.*\]$/, '').toLowerCase();
        const dataType = (DataTypes as readonly string[]).includes(baseType) ? (baseType as DataType) : undefined;
        if (dataType === undefined) { issue(`unsupported type ${typeText}`); break; }
        let vendor = vendorStack.length > 0 ? vendorStack[vendorStack.length - 1] : undefined;
        let encrypt: 0 | 1 | 2 = 0;
        let hasTag = false;
        for (const extra of f.slice(4)) {
          for (const flag of extra.split(',')) {
            if (flag === 'has_tag') hasTag = true;
            else if (flag === 'encrypt=1') encrypt = 1;
            else if (flag === 'encrypt=2') encrypt = 2;
            else if (flag.startsWith('encrypt=')) encrypt = 0; // RFC 2868-style Ascend encryption: leave opaque
            else if (!flag.includes('=') && dict.vendor(flag)) vendor = dict.vendor(flag); // old 4th-field vendor form
          }
        }
        if (vendor && vendor.id < 0) { issue('attribute of an unknown vendor'); break; }
        const vendorId = vendor ? vendor.id : 0;
        const maxType = vendor ? (vendor.typeLength === 1 ? 0xff : vendor.typeLength === 2 ? 0xffff : 0xffffffff) : 0xff;
        if (type < 1 && vendorId === 0) { issue('attribute number out of range'); break; }
        if (type > maxType) { issue('attribute number out of range'); break; }
        dict.addAttribute({ name, vendorId, type, dataType, encrypt, hasTag, valuesByName: new Map(), namesByValue: new Map() });
        break;
      }
      case 'VALUE': {
        const attr = f[1];
        const name = f[2];
        const value = parseNumber(f[3]);
        if (attr === undefined || name === undefined || value === undefined) { issue('bad VALUE line'); break; }
        pendingValues.push({ line: i + 1, text: raw, attr, name, value });
        break;
      }
      default:
        // FLAGS, PROTOCOL, STRUCT, MEMBER ...: not needed by a NAS.
        issue(`unsupported keyword ${kw}`);
    }
  }
  // VALUE lines may precede their ATTRIBUTE in some files; resolve them at the end.
  for (const v of pendingValues) {
    const def = dict.attribute(v.attr);
    if (!def) { issues.push({ line: v.line, text: v.text, reason: 'VALUE for an unknown attribute' }); continue; }
    def.valuesByName.set(v.name.toLowerCase(), v.value);
    if (!def.namesByValue.has(v.value)) def.namesByValue.set(v.value, v.name);
  }
  return issues;
}

function parseNumber(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  if (/^0x[0-9a-f]+$/i.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^[0-9]+$/.test(s)) return Number.parseInt(s, 10);
  return undefined;
}

function parseFormat(s: string | undefined): { typeLength: 1 | 2 | 4; lengthLength: 0 | 1 | 2 } | undefined {
  if (s === undefined) return { typeLength: 1, lengthLength: 1 };
  const m = /^format=([124]),([012])(,c)?$/.exec(s);
  if (!m) return undefined;
  return { typeLength: Number(m[1]) as 1 | 2 | 4, lengthLength: Number(m[2]) as 0 | 1 | 2 };
}
