import { expect } from 'vitest';
import { dhcp4, macToBytes } from '@bng/protocols';
import {
  createDhcp4Server,
  createMemoryLeaseStore,
  silentDhcp4Logger,
  type Dhcp4Action,
  type Dhcp4RequestMeta,
  type Dhcp4Server,
  type Dhcp4ServerConfig,
  type LeaseStore,
} from '../src/dhcp/index.js';

export const { MessageType, OptionCode } = dhcp4;

export const baseConfig: Dhcp4ServerConfig = {
  serverId: '10.0.1.1',
  offerHoldMs: 30_000,
  declineQuarantineMs: 600_000,
  pools: [
    {
      name: 'residential',
      network: '10.0.1.0/24',
      gateway: '10.0.1.1',
      rangeStart: '10.0.1.10',
      rangeEnd: '10.0.1.12',
      dns: ['9.9.9.9', '1.1.1.1'],
      domain: 'isp.example',
      leaseTime: 3600,
      reservations: [
        { mac: '02:00:00:00:00:99', ip: '10.0.1.200', hostname: 'printer' },
        { clientId: '01aabbccddeeff', ip: '10.0.1.201' },
      ],
    },
    {
      name: 'business-vlan',
      network: '10.0.2.0/24',
      gateway: '10.0.2.1',
      serverId: '10.0.2.1',
      leaseTime: 7200,
      match: { vlans: [{ outer: 200, inner: [1, 99] }] },
    },
    {
      name: 'relayed',
      network: '10.9.0.0/24',
      gateway: '10.9.0.1',
      rangeStart: '10.9.0.100',
      rangeEnd: '10.9.0.199',
    },
    {
      name: 'by-circuit',
      network: '10.7.0.0/24',
      gateway: '10.7.0.1',
      match: { circuitIds: ['olt1 eth 1/2:100'] },
    },
    {
      name: 'guest-port',
      network: '10.8.0.0/24',
      gateway: '10.8.0.1',
      leaseTime: 600,
      match: { interfaces: ['guest0'] },
    },
  ],
};

export interface Harness {
  server: Dhcp4Server;
  leases: LeaseStore;
  now: { ms: number };
}

export function harness(config: Dhcp4ServerConfig = baseConfig, leases: LeaseStore = createMemoryLeaseStore()): Harness {
  const now = { ms: 1_000_000 };
  const server = createDhcp4Server(config, { leases, clock: { now: () => now.ms }, log: silentDhcp4Logger });
  return { server, leases, now };
}

export const meta = (over: Partial<Dhcp4RequestMeta> = {}): Dhcp4RequestMeta => ({
  ifname: 'sub0',
  vlans: [],
  srcMac: '02:00:00:00:00:01',
  ...over,
});

export interface ClientSpec {
  mac?: string;
  xid?: number;
  flags?: number;
  ciaddr?: string;
  giaddr?: string;
  options?: dhcp4.Dhcp4Option[];
}

export function clientMessage(type: number, spec: ClientSpec = {}): dhcp4.Dhcp4Message {
  return dhcp4.createDhcp4Message({
    op: dhcp4.Op.BOOTREQUEST,
    xid: spec.xid ?? 0x11223344,
    flags: spec.flags ?? 0,
    ciaddr: spec.ciaddr ?? '0.0.0.0',
    giaddr: spec.giaddr ?? '0.0.0.0',
    hops: spec.giaddr !== undefined ? 1 : 0,
    chaddr: dhcp4.chaddrOf(macToBytes(spec.mac ?? '02:00:00:00:00:01')),
    options: [dhcp4.messageTypeOption(type), ...(spec.options ?? [])],
  });
}

export const requested = (ip: string): dhcp4.Dhcp4Option => dhcp4.ipOption(OptionCode.REQUESTED_IP, ip);
export const server = (ip: string): dhcp4.Dhcp4Option => dhcp4.ipOption(OptionCode.SERVER_ID, ip);

export type SendAction = Extract<Dhcp4Action, { type: 'send' }>;

export function sent(actions: Dhcp4Action[]): SendAction {
  const s = actions.filter((a): a is SendAction => a.type === 'send');
  expect(s, JSON.stringify(actions.map((a) => (a.type === 'drop' ? a : a.type)))).toHaveLength(1);
  const only = s[0]!;
  // what goes on the wire is what the message says
  expect(dhcp4.decodeDhcp4(only.payload)).toEqual(only.message);
  return only;
}

export function dropped(actions: Dhcp4Action[]): string {
  expect(actions).toHaveLength(1);
  const a = actions[0]!;
  if (a.type !== 'drop') throw new Error(`expected a drop, got ${a.type}`);
  return a.reason;
}

export function replyType(a: SendAction): number | undefined {
  return dhcp4.messageType(a.message);
}

/** DISCOVER then REQUEST (SELECTING) for the offered address; returns the ACK action. */
export function dora(h: Harness, spec: ClientSpec = {}, m: Dhcp4RequestMeta = meta()): SendAction {
  const offer = sent(h.server.handle(clientMessage(MessageType.DHCPDISCOVER, spec), m, h.now.ms));
  expect(replyType(offer)).toBe(MessageType.DHCPOFFER);
  const sid = dhcp4.serverId(offer.message)!;
  const ack = sent(
    h.server.handle(
      clientMessage(MessageType.DHCPREQUEST, {
        ...spec,
        options: [...(spec.options ?? []), requested(offer.message.yiaddr), server(sid)],
      }),
      m,
      h.now.ms,
    ),
  );
  expect(replyType(ack)).toBe(MessageType.DHCPACK);
  return ack;
}
