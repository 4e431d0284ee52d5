/**
 * Relay Agent Information, option 82 (RFC 3046): a sequence of sub-options, each
 * code/length/value. The server must echo the whole option verbatim (RFC 3046 §2.2), so `raw`
 * keeps the exact octets next to the parsed view.
 */
import { OptionCode, RelayAgentSubOption } from './constants.js';
import { DecodeError, encodeError } from './errors.js';
import type { Dhcp4Message, Dhcp4Option } from './message.js';
import { getOptionConcatenated } from './options.js';

export interface RelayAgentSubOptionValue {
  code: number;
  data: Uint8Array;
}

export interface RelayAgentInfo {
  /** sub-option 1 (RFC 3046 §3.1) */
  circuitId?: Uint8Array;
  /** sub-option 2 (RFC 3046 §3.2) */
  remoteId?: Uint8Array;
  /** the option's value exactly as received */
  raw: Uint8Array;
  /** every sub-option in order, including 1 and 2 */
  subOptions: RelayAgentSubOptionValue[];
}

/** Parses an option-82 value. `offset` in a thrown DecodeError is relative to `data`. */
export function decodeRelayAgentInfo(data: Uint8Array): RelayAgentInfo {
  const subOptions: RelayAgentSubOptionValue[] = [];
  let i = 0;
  while (i < data.length) {
    if (i + 2 > data.length) {
      throw new DecodeError('DHCP4_BAD_RELAY_AGENT_INFO', i, `sub-option ${data[i]} has no length octet`);
    }
    const code = data[i] as number;
    const len = data[i + 1] as number;
    if (i + 2 + len > data.length) {
      throw new DecodeError(
        'DHCP4_BAD_RELAY_AGENT_INFO',
        i,
        `sub-option ${code} claims ${len} octets, ${data.length - i - 2} remain`,
      );
    }
    subOptions.push({ code, data: data.slice(i + 2, i + 2 + len) });
    i += 2 + len;
  }
  const info: RelayAgentInfo = { raw: Uint8Array.from(data), subOptions };
  // RFC 3046 §2.0 does not forbid repeats; the first instance is the one agents act on.
  const circuit = subOptions.find((s) => s.code === RelayAgentSubOption.CIRCUIT_ID);
  const remote = subOptions.find((s) => s.code === RelayAgentSubOption.REMOTE_ID);
  if (circuit !== undefined) info.circuitId = circuit.data;
  if (remote !== undefined) info.remoteId = remote.data;
  return info;
}

/** Option 82 of a message, parsed; undefined when absent. Throws DecodeError if malformed. */
export function relayAgentInfo(msg: Pick<Dhcp4Message, 'options'>): RelayAgentInfo | undefined {
  const data = getOptionConcatenated(msg, OptionCode.RELAY_AGENT_INFO);
  return data === undefined ? undefined : decodeRelayAgentInfo(data);
}

/** Serialises sub-options in the given order. */
export function encodeRelayAgentInfo(subOptions: readonly RelayAgentSubOptionValue[]): Uint8Array {
  let total = 0;
  subOptions.forEach((s, k) => {
    if (!Number.isInteger(s.code) || s.code < 0 || s.code > 255) {
      throw encodeError(`relayAgentInfo[${k}].code`, 'must be 0..255', s.code);
    }
    if (!(s.data instanceof Uint8Array) || s.data.length > 255) {
      throw encodeError(`relayAgentInfo[${k}].data`, 'must be a Uint8Array of at most 255 octets');
    }
    total += 2 + s.data.length;
  });
  // RFC 3046 §2.0: the whole option value must fit one option (255 octets).
  if (total > 255) throw encodeError('relayAgentInfo', `${total} octets, at most 255`, total);
  const out = new Uint8Array(total);
  let at = 0;
  for (const s of subOptions) {
    out[at] = s.code;
    out[at + 1] = s.data.length;
    out.set(s.data, at + 2);
    at += 2 + s.data.length;
  }
  return out;
}

/**
 * Builds option 82: circuit-id first, then remote-id, then any further sub-options, the order
 * relays conventionally use.
 */
export function relayAgentInfoOption(parts: {
  circuitId?: Uint8Array;
  remoteId?: Uint8Array;
  subOptions?: readonly RelayAgentSubOptionValue[];
}): Dhcp4Option {
  const subs: RelayAgentSubOptionValue[] = [];
  if (parts.circuitId !== undefined) subs.push({ code: RelayAgentSubOption.CIRCUIT_ID, data: parts.circuitId });
  if (parts.remoteId !== undefined) subs.push({ code: RelayAgentSubOption.REMOTE_ID, data: parts.remoteId });
  if (parts.subOptions !== undefined) subs.push(...parts.subOptions);
  const data = encodeRelayAgentInfo(subs);
  // RFC 3046 §2.0: the option carries at least one sub-option.
  if (data.length < 2) throw encodeError('relayAgentInfo', 'needs at least one sub-option');
  return { code: OptionCode.RELAY_AGENT_INFO, data };
}
