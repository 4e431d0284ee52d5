// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc_count: a test fixture for the binding's TC clsact attach. Counts the packets it sees in
 * slot 0 (ingress) and 1 (egress) and lets them through.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} tc_count_packets SEC(".maps");

static __always_inline int count(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&tc_count_packets, &slot);
	if (c)
		__sync_fetch_and_add(c, 1);
	return TC_ACT_OK;
}

SEC("tc")
int tc_count_ingress(struct __sk_buff *skb)
{
	return count(0);
}

SEC("tc")
int tc_count_egress(struct __sk_buff *skb)
{
	return count(1);
}
