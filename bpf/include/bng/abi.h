/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * THE definition of everything shared between the eBPF programs and userspace: map keys and
 * values, ring-buffer events, load-time configuration and the numbered counter reasons.
 *
 * The TypeScript side never restates these layouts: scripts/gen-abi.mjs reads them from the
 * compiled object's BTF into packages/datapath/src/generated/abi.ts, `make` fails when that
 * file has drifted, and the daemon refuses to start when a loaded map's key/value size does
 * not match.
 *
 * Conventions: fields typed __be32 hold IPv4 addresses in network byte order; every other
 * integer is host order. VLAN ids are the 12-bit VID in host order, 0 meaning "no tag".
 * Times are CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns in the kernel,
 * clock_gettime(CLOCK_BOOTTIME) in userspace), so a suspended box does not expire leases early
 * and both sides compare the same clock.
 */
#ifndef BNG_ABI_H
#define BNG_ABI_H

#include <linux/types.h>

#define BNG_MAX_SUBSCRIBERS 262144
#define BNG_MAX_POOLS 4096
#define BNG_RELAY_ID_MAX 62
#define BNG_DOMAIN_MAX 64
#define BNG_EVENTS_BYTES (1 << 20)
#define BNG_MAX_SESSIONS BNG_MAX_SUBSCRIBERS
#define BNG_MAX_GARDEN_PREFIXES 4096

/* bng_subscribers_by_mac key: the client hardware address (chaddr). */
struct bng_mac_key {
	__u8 mac[6];
	__u16 pad; /* always 0 */
};

/* bng_subscribers_by_vlan key: single-tagged lines use s_tag = 0, c_tag = VID. */
struct bng_vlan_key {
	__u16 s_tag;
	__u16 c_tag;
};

/* Option 82 sub-option kinds (RFC 3046 §2.0). */
enum bng_relay_kind {
	BNG_RELAY_CIRCUIT_ID = 1,
	BNG_RELAY_REMOTE_ID = 2,
};

/* bng_subscribers_by_relay key: an Option 82 circuit-id or remote-id, zero padded. */
struct bng_relay_key {
	__u8 kind; /* enum bng_relay_kind */
	__u8 len;  /* 1..BNG_RELAY_ID_MAX */
	__u8 id[BNG_RELAY_ID_MAX];
};

enum bng_subscriber_flags {
	/* the binding never expires in the kernel (static reservation) */
	BNG_SUB_F_STATIC = 1 << 0,
	/* the kernel passes this subscriber's requests to userspace (walled garden, re-auth) */
	BNG_SUB_F_SLOWPATH = 1 << 1,
};

/* The value of all three subscriber maps: the pre-allocated address and the lease state. */
struct bng_subscriber {
	__be32 ip;
	__u32 pool_id;
	/* CLOCK_BOOTTIME ns when the lease ends; 0 = provisioned, never bound. The kernel does
	 * not answer for a binding past this time (userspace decides), and moves it forward on
	 * every ACK it sends. */
	__u64 lease_expires_ns;
	__u32 flags;        /* enum bng_subscriber_flags */
	__u32 lease_time_s; /* 0 = the pool's lease time */
};

/* bng_pools value, keyed by pool id (__u32). */
struct bng_pool {
	__be32 netmask;
	__be32 gateway;   /* option 3; 0 = none */
	__be32 dns[2];    /* option 6; 0 = unused slot */
	__be32 server_ip; /* option 54 and reply source; 0 = the global server address */
	__u32 lease_time_s;
	__u32 t1_s; /* 0 = 50% of the lease (RFC 2131 §4.4.5) */
	__u32 t2_s; /* 0 = 87.5% of the lease */
	__u8 domain_len; /* option 15; 0 = not sent */
	__u8 pad[3];
	char domain[BNG_DOMAIN_MAX];
};

enum bng_session_flags {
	/* only destinations in bng_walled_garden are reachable (and only they reach the subscriber) */
	BNG_SESSION_F_WALLED = 1 << 0,
};

/*
 * Policer constants. An enum rather than #defines so they reach the TypeScript side through
 * BTF like everything else here.
 *
 * Bucket size (the burst a subscriber may send at line rate after being idle):
 * max(rate * BNG_POLICE_BURST_MS, BNG_POLICE_BURST_MIN_BYTES). 300 ms, not the 100 ms often
 * quoted, because of what a policer does to TCP: once the bucket is empty a window's tail is
 * dropped, and where that leaves the sender without enough duplicate ACKs it waits out a
 * retransmission timeout (Linux: at least 200 ms, TCP_RTO_MIN; Windows: 300 ms by default;
 * RFC 6298 §2.4 allows 1 s). A flow that stalls that long still gets the full rate only if the
 * bucket holds what the rate refills during the stall; a smaller one caps it near bucket / RTO.
 * Measured on veth (RTT in microseconds, so every loss episode ends in such a stall), TCP
 * downloads through a 20 Mbit/s policer: 20 ms of burst gave 1.9-2.6 Mbit/s, 100 ms 9.5-10.1,
 * 200 ms 19.2-19.3, 300 ms 19.3-19.6 (docs/fastpath.md has uploads and other rates). The
 * floor (about eleven 1,500-byte packets) keeps low rates usable.
 */
enum bng_police_limits {
	BNG_POLICE_BURST_MS = 300,
	BNG_POLICE_BURST_MIN_BYTES = 16384,
	/* a byte at R kbit/s takes 8,000,000 / R ns */
	BNG_POLICE_NS_PER_BYTE_KBPS = 8000000,
	/* 100 Gbit/s: the largest rate accepted, in kbit/s */
	BNG_POLICE_RATE_MAX_KBPS = 100000000,
};

/*
 * One direction's policer: a token bucket kept as a virtual schedule (GCRA, the "virtual
 * scheduling" form of ITU-T I.371 Annex A) so that its whole state is one 64-bit word.
 *
 * tat_ns is when the bucket would be full again. A packet passes while tat_ns is less than
 * burst_ns ahead of now (the bucket is not empty) and pushes tat_ns on by its transmission time
 * at the rate (bytes * 8e6 / kbit/s ns). Passing while not empty, rather than only when the
 * whole packet fits, lets a GSO/GRO super-packet (up to 64 KiB on TC egress) through a small
 * bucket; the debt it leaves is paid by the packets after it. A tat_ns in the past is a full
 * bucket: it restarts from now.
 *
 * Why atomics rather than a bpf_spin_lock: with one word of state, a charge is one atomic add
 * (BPF_ATOMIC add, `lock xadd` on x86), and both CPUs can charge the same subscriber without
 * losing either charge. The check before it may see a value a concurrent charge is about to
 * move, so at most one packet per CPU in flight passes beyond the burst; and the restart from
 * now is a plain store that can overwrite a concurrent charge, which happens only while the
 * schedule is in the past, i.e. the subscriber is under its rate. A spin lock would make both
 * exact at the cost of an irq-save, a locked compare-and-swap and a release on every policed
 * packet (measured: about 70 ns more per packet here, docs/fastpath.md).
 *
 * The schedule runs on the coarse monotonic clock (bpf_ktime_get_coarse_ns: the time of the
 * last tick, a few ns to read instead of about 40 for a clocksource read). It lags real time by
 * at most one tick (4 ms at HZ=250), which shortens a 300 ms burst by that much and leaves the
 * long-run rate exact. Only differences of it are used, and only within the datapath.
 */
struct bng_bucket {
	__u64 tat_ns;   /* CLOCK_MONOTONIC_COARSE (below); 0 = full */
	__u64 burst_ns; /* the bucket size as time at the rate; set with the rate */
};

/*
 * bng_sessions value, keyed by the subscriber's IPv4 address (__be32).
 *
 * Who writes what: userspace never writes a value; bng_session_set creates entries and changes
 * the policy fields in place, the datapath adds to the counters and moves the buckets'
 * schedules, so a policy change never rewrites a counter. Counters are added to with atomic
 * instructions: both CPUs can count the same subscriber without losing updates. last_rx_ns is a
 * plain aligned 64-bit store (never torn); concurrent writers all store "now", any is right.
 * A packet that reads the policy while bng_session_set changes it may see the old rate with the
 * new burst, or the other way round; the one after sees the new policy.
 */
struct bng_session {
	__u32 flags;     /* enum bng_session_flags */
	__u32 up_kbps;   /* from the subscriber (XDP ingress); 0 = unlimited */
	__u32 down_kbps; /* to the subscriber (TC egress); 0 = unlimited */
	__u32 pad;
	/* From the subscriber, every IPv4 packet the XDP program sees (RFC 2866 §5.3: octets
	 * "received from the port"), whether it then passes or is dropped here. IP bytes: the
	 * IPv4 total length, no link-layer header. */
	__u64 rx_packets;
	__u64 rx_bytes;
	/* To the subscriber, what the TC program lets out (RFC 2866 §5.4: octets "sent to the
	 * port"); a GSO super-packet counts as the packets and IP bytes it leaves as. */
	__u64 tx_packets;
	__u64 tx_bytes;
	/* CLOCK_BOOTTIME of the last packet from the subscriber; 0 = none yet. Read once per tick
	 * per subscriber (rx_tick_ns), so it can be up to one tick (4 ms at HZ=250) older than the
	 * last packet: plenty for Idle-Timeout (RFC 2865 §5.28 counts seconds), and a busy subscriber
	 * costs one clocksource read per tick instead of one per packet. */
	__u64 last_rx_ns;
	__u64 rx_tick_ns; /* the coarse clock's tick last_rx_ns was read in */
	__u64 policed_up;   /* packets dropped by the upstream policer */
	__u64 policed_down; /* packets dropped by the downstream policer */
	__u64 walled_drops; /* packets dropped by the walled garden, both directions */
	struct bng_bucket up;
	struct bng_bucket down;
};

/*
 * bng_session_set context (BPF_PROG_TYPE_SYSCALL, run with BPF_PROG_RUN): create the session
 * with zero counters, or change the policy of an existing one in place. Returns 1 when it
 * created the entry, 0 when it changed one, a negative errno otherwise.
 */
struct bng_session_update {
	__be32 ip;
	__u32 flags;     /* enum bng_session_flags */
	__u32 up_kbps;   /* 0 = unlimited, at most BNG_POLICE_RATE_MAX_KBPS */
	__u32 down_kbps;
};

/* bng_walled_garden key (BPF_MAP_TYPE_LPM_TRIE): the prefix length, then the address. */
struct bng_lpm_v4_key {
	__u32 prefixlen;
	__be32 addr;
};

enum bng_config_flags {
	/* answer nothing in the kernel, pass everything up (fast path off) */
	BNG_CFG_F_DISABLED = 1 << 0,
};

/* Load-time constants (.rodata of each program that uses them). */
struct bng_config {
	__be32 server_ip;
	__u8 server_mac[6];
	__u16 flags; /* enum bng_config_flags */
};

enum bng_event_type {
	BNG_EV_ACK = 1,
	BNG_EV_NAK = 2,
};

enum bng_match_kind {
	BNG_MATCH_MAC = 1,
	BNG_MATCH_VLAN = 2,
	BNG_MATCH_CIRCUIT_ID = 3,
	BNG_MATCH_REMOTE_ID = 4,
};

/* bng_events ring-buffer record: what the kernel answered, for the lease store. */
struct bng_event {
	__u64 ts_ns; /* CLOCK_BOOTTIME */
	__u64 lease_expires_ns;
	__u32 type; /* enum bng_event_type */
	__u32 match; /* enum bng_match_kind */
	__be32 ip;
	__u32 pool_id;
	__u32 xid;
	__u16 s_tag;
	__u16 c_tag;
	__u8 mac[6];
	__u16 pad;
};

/*
 * Per-CPU counters, indexed by reason. Append only: a number, once shipped, keeps its meaning.
 * Every frame the XDP program sees increments BNG_CTR_RX and exactly one outcome reason;
 * BNG_CTR_EVENT_LOST is extra (a reply went out but its ring-buffer event did not). The TC
 * egress program keeps the same rule with its own BNG_CTR_TC_* reasons: BNG_CTR_TC_RX and
 * exactly one BNG_CTR_TC_ outcome per packet.
 */
enum bng_counter {
	BNG_CTR_RX = 0,
	BNG_CTR_PASS_NOT_IPV4 = 1,
	BNG_CTR_PASS_NOT_DHCP = 2,
	BNG_CTR_PASS_IP_FRAGMENT = 3,
	BNG_CTR_PASS_MALFORMED_L2L3 = 4,
	BNG_CTR_DROP_MALFORMED_BOOTP = 5,
	BNG_CTR_DROP_MALFORMED_OPTIONS = 6,
	BNG_CTR_PASS_NOT_BOOTREQUEST = 7,
	BNG_CTR_PASS_NO_COOKIE = 8,
	BNG_CTR_PASS_NO_MSG_TYPE = 9,
	BNG_CTR_PASS_OPTION_OVERLOAD = 10,
	BNG_CTR_PASS_UNKNOWN_SUBSCRIBER = 11,
	BNG_CTR_PASS_SLOWPATH_FLAG = 12,
	BNG_CTR_PASS_LEASE_EXPIRED = 13,
	BNG_CTR_PASS_NO_POOL = 14,
	BNG_CTR_PASS_NO_SERVER_ID = 15,
	BNG_CTR_PASS_MSG_TYPE = 16,
	BNG_CTR_PASS_OTHER_SERVER = 17,
	BNG_CTR_PASS_REQUEST_STATE = 18,
	BNG_CTR_PASS_REPLY_TOO_BIG = 19,
	BNG_CTR_PASS_DISABLED = 20,
	BNG_CTR_TX_OFFER = 21,
	BNG_CTR_TX_ACK = 22,
	BNG_CTR_TX_NAK = 23,
	BNG_CTR_ERR_ADJUST_TAIL = 24,
	BNG_CTR_ERR_STORE = 25,
	BNG_CTR_EVENT_LOST = 26,
	BNG_CTR_PASS_HW_TYPE = 27,
	BNG_CTR_PASS_OPTION_LIMIT = 28,
	/* a known subscriber's non-DHCP IPv4 packet, counted in its session and passed */
	BNG_CTR_PASS_SESSION = 29,
	/* a walled subscriber's packet to a destination outside bng_walled_garden */
	BNG_CTR_DROP_WALLED = 30,
	/* over the subscriber's upstream rate */
	BNG_CTR_DROP_POLICED_UP = 31,
	/* TC egress: every packet, then one of the outcomes below */
	BNG_CTR_TC_RX = 32,
	BNG_CTR_TC_PASS_NOT_IPV4 = 33,
	BNG_CTR_TC_PASS_MALFORMED = 34,
	BNG_CTR_TC_PASS_NO_SESSION = 35,
	BNG_CTR_TC_PASS_DHCP = 36,
	BNG_CTR_TC_PASS_SESSION = 37,
	BNG_CTR_TC_DROP_WALLED = 38,
	BNG_CTR_TC_DROP_POLICED_DOWN = 39,
	BNG_CTR__MAX = 64,
};

/*
 * Every ABI type as a member: each program declares one `const volatile struct bng_abi` so its
 * BTF carries all of them (and the enums' values) for scripts/gen-abi.mjs, even the types the
 * program itself only uses through pointers.
 */
struct bng_abi {
	struct bng_mac_key mac_key;
	struct bng_vlan_key vlan_key;
	struct bng_relay_key relay_key;
	struct bng_subscriber subscriber;
	struct bng_pool pool;
	struct bng_config config;
	struct bng_event event;
	struct bng_session session;
	struct bng_session_update session_update;
	struct bng_lpm_v4_key lpm_v4_key;
	enum bng_relay_kind relay_kind;
	enum bng_subscriber_flags subscriber_flags;
	enum bng_config_flags config_flags;
	enum bng_event_type event_type;
	enum bng_match_kind match_kind;
	enum bng_counter counter;
	enum bng_session_flags session_flags;
	enum bng_police_limits police_limits;
};

#define BNG_ABI_ANCHOR const volatile struct bng_abi bng_abi_anchor = {}

#endif /* BNG_ABI_H */
