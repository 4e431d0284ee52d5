/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Parse helpers: one cursor over the packet, a bounds check before every access.
 */
#ifndef BNG_PARSE_H
#define BNG_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

struct cursor {
	void *pos;
	void *end;
};

/* Returns a pointer to the next `len` bytes and advances, or NULL when they are not there. */
#define CURSOR_TAKE(c, type)                                                                   \
	({                                                                                     \
		type *__p = (type *)(c)->pos;                                                  \
		if ((void *)(__p + 1) > (c)->end)                                              \
			__p = NULL;                                                            \
		else                                                                           \
			(c)->pos = (void *)(__p + 1);                                          \
		__p;                                                                           \
	})

struct vlan_tag {
	__be16 tci;
	__be16 encap_proto;
};

static __always_inline int is_vlan_proto(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Clamps a variable offset with a mask the compiler cannot optimise away, so the verifier sees
 * a bounded value even where the C code has already proved the bound in another way.
 */
static __always_inline __u64 bounded(__u64 v, __u64 mask)
{
	asm volatile("" : "+r"(v));
	return v & mask;
}

/* RFC 1071 fold of a 32-bit one's complement partial sum. */
static __always_inline __u16 csum_fold32(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

#endif /* BNG_PARSE_H */
