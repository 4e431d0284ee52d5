/** DHCPv4 numbers: RFC 2131 (message layout), RFC 2132 (options), RFC 3046 (option 82). */

/** RFC 2131 §2: `op` field. */
export const Op = {
  BOOTREQUEST: 1,
  BOOTREPLY: 2,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

/** RFC 1700 hardware types; only Ethernet matters here. */
export const HType = {
  ETHERNET: 1,
} as const;

/** RFC 2132 §9.6: DHCP Message Type (option 53) values. */
export const MessageType = {
  DHCPDISCOVER: 1,
  DHCPOFFER: 2,
  DHCPREQUEST: 3,
  DHCPDECLINE: 4,
  DHCPACK: 5,
  DHCPNAK: 6,
  DHCPRELEASE: 7,
  DHCPINFORM: 8,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const messageTypeNames: Record<number, string> = {
  1: 'DHCPDISCOVER',
  2: 'DHCPOFFER',
  3: 'DHCPREQUEST',
  4: 'DHCPDECLINE',
  5: 'DHCPACK',
  6: 'DHCPNAK',
  7: 'DHCPRELEASE',
  8: 'DHCPINFORM',
};

/** 'DHCPDISCOVER' ... or 'DHCP-TYPE-<n>' for values outside RFC 2132. For logs. */
export function messageTypeName(type: number): string {
  return messageTypeNames[type] ?? `DHCP-TYPE-${type}`;
}

/** Option codes (RFC 2132 unless noted). */
export const OptionCode = {
  PAD: 0,
  SUBNET_MASK: 1,
  TIME_OFFSET: 2,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  INTERFACE_MTU: 26,
  BROADCAST_ADDRESS: 28,
  STATIC_ROUTE: 33,
  NTP_SERVERS: 42,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58, // T1
  REBINDING_TIME: 59, // T2
  VENDOR_CLASS_ID: 60,
  CLIENT_ID: 61,
  USER_CLASS: 77, // RFC 3004
  RAPID_COMMIT: 80, // RFC 4039
  CLIENT_FQDN: 81, // RFC 4702
  RELAY_AGENT_INFO: 82, // RFC 3046
  SUBNET_SELECTION: 118, // RFC 3011
  DOMAIN_SEARCH: 119, // RFC 3397
  CLASSLESS_STATIC_ROUTE: 121, // RFC 3442
  END: 255,
} as const;
export type OptionCode = (typeof OptionCode)[keyof typeof OptionCode];

/** RFC 2132 §9.3: values of the Option Overload option. */
export const Overload = {
  FILE: 1,
  SNAME: 2,
  BOTH: 3,
} as const;

/** RFC 3046 §2.0 and later RFCs: sub-option codes inside option 82. */
export const RelayAgentSubOption = {
  CIRCUIT_ID: 1,
  REMOTE_ID: 2,
  LINK_SELECTION: 5, // RFC 3527
  SUBSCRIBER_ID: 6, // RFC 3993
  SERVER_ID_OVERRIDE: 11, // RFC 5107
} as const;

/** RFC 2131 §4.1: UDP ports. */
export const Port = {
  SERVER: 67,
  CLIENT: 68,
} as const;

/** RFC 2131 §2, figure 2: the leftmost bit of `flags`. */
export const BROADCAST_FLAG = 0x8000;

/** RFC 2131 §3: the first four octets of the options field. */
export const MAGIC_COOKIE = Uint8Array.of(99, 130, 83, 99);

/** RFC 2131 §2: op..file is 236 octets; the magic cookie follows. */
export const FIXED_HEADER_LENGTH = 236;
export const OPTIONS_OFFSET = 240;
export const SNAME_OFFSET = 44;
export const SNAME_LENGTH = 64;
export const FILE_OFFSET = 108;
export const FILE_LENGTH = 128;
export const CHADDR_OFFSET = 28;
export const CHADDR_LENGTH = 16;

/** RFC 1542 §2.1: relay agents and old BOOTP servers may drop messages shorter than this. */
export const BOOTP_MIN_LENGTH = 300;
/** RFC 2131 §2: every DHCP participant accepts a message of at least 576 octets of IP datagram. */
export const DHCP_MIN_MAX_MESSAGE_SIZE = 576;
