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
 * Every frame the program sees increments BNG_CTR_RX and exactly one outcome reason;
 * BNG_CTR_EVENT_LOST is extra (a reply went out but its ring-buffer event did not).
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
	BNG_CTR__MAX = 32,
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
	enum bng_relay_kind relay_kind;
	enum bng_subscriber_flags subscriber_flags;
	enum bng_config_flags config_flags;
	enum bng_event_type event_type;
	enum bng_match_kind match_kind;
	enum bng_counter counter;
};

#define BNG_ABI_ANCHOR const volatile struct bng_abi bng_abi_anchor = {}

#endif /* BNG_ABI_H */
