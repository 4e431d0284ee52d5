/** RADIUS packet codes (RFC 2865 §3, RFC 2866 §3, RFC 5997 §2, RFC 5176 §2.3). */
export const RadiusCode = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  StatusServer: 12,
  StatusClient: 13,
  DisconnectRequest: 40,
  DisconnectAck: 41,
  DisconnectNak: 42,
  CoaRequest: 43,
  CoaAck: 44,
  CoaNak: 45,
} as const;
export type RadiusCodeValue = (typeof RadiusCode)[keyof typeof RadiusCode];

/** Standard attribute numbers used by the code itself (the dictionary holds the full list). */
export const AttrType = {
  UserName: 1,
  UserPassword: 2,
  ChapPassword: 3,
  NasIpAddress: 4,
  NasPort: 5,
  ServiceType: 6,
  FramedIpAddress: 8,
  FilterId: 11,
  ReplyMessage: 18,
  State: 24,
  Class: 25,
  VendorSpecific: 26,
  SessionTimeout: 27,
  IdleTimeout: 28,
  CallingStationId: 31,
  NasIdentifier: 32,
  ProxyState: 33,
  AcctStatusType: 40,
  AcctDelayTime: 41,
  AcctSessionId: 44,
  EventTimestamp: 55,
  ChapChallenge: 60,
  EapMessage: 79,
  MessageAuthenticator: 80,
  AcctInterimInterval: 85,
  NasPortId: 87,
  FramedPool: 88,
  ErrorCause: 101,
} as const;

/** RFC 2866 §5.1 Acct-Status-Type values. */
export const AcctStatusType = { Start: 1, Stop: 2, InterimUpdate: 3, AccountingOn: 7, AccountingOff: 8 } as const;

/** RFC 2866 §5.10 Acct-Terminate-Cause values. */
export const AcctTerminateCause = {
  UserRequest: 1,
  LostCarrier: 2,
  LostService: 3,
  IdleTimeout: 4,
  SessionTimeout: 5,
  AdminReset: 6,
  AdminReboot: 7,
  PortError: 8,
  NasError: 9,
  NasRequest: 10,
  NasReboot: 11,
  PortUnneeded: 12,
  PortPreempted: 13,
  PortSuspended: 14,
  ServiceUnavailable: 15,
  Callback: 16,
  UserError: 17,
  HostRequest: 18,
} as const;

/** RFC 5176 §3.5 Error-Cause values. */
export const ErrorCause = {
  ResidualSessionContextRemoved: 201,
  InvalidEapPacket: 202,
  UnsupportedAttribute: 401,
  MissingAttribute: 402,
  NasIdentificationMismatch: 403,
  InvalidRequest: 404,
  UnsupportedService: 405,
  UnsupportedExtension: 406,
  InvalidAttributeValue: 407,
  AdministrativelyProhibited: 501,
  RequestNotRoutable: 502,
  SessionContextNotFound: 503,
  SessionContextNotRemovable: 504,
  OtherProxyProcessingError: 505,
  ResourcesUnavailable: 506,
  RequestInitiated: 507,
  MultipleSessionSelectionUnsupported: 508,
} as const;

/** RFC 2865 §3: "The minimum length is 20 and maximum length is 4096." */
export const RADIUS_HEADER_LENGTH = 20;
export const RADIUS_MAX_LENGTH = 4096;
export const AUTHENTICATOR_LENGTH = 16;
