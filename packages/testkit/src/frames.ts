// Frame builders and parsers live in @bng/protocols (the daemon sends with them too); tests import
// them from here as well.
export { bytesToIp, bytesToMac, internetChecksum, ipToBytes, ipToU32, macToBytes, u32ToIp } from '@bng/protocols';
export { EtherType, FrameError, FrameErrorCode, IpProtocol, buildDhcp4Frame, buildUdpFrame, parseDhcp4Frame, parseFrame } from '@bng/protocols';
export type { Dhcp4FrameSpec, ParsedFrame, ParsedIpv4, ParsedUdp, ParsedVlanTag, UdpFrameSpec, VlanTag } from '@bng/protocols';
