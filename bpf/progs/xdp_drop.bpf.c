// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_drop: drops every frame. The benchmark attaches it to the generator's end of a veth
 * during a flood, so the replies the fast path sends back cost the sender nothing beyond
 * their arrival: what is measured is the fast path, not the client's network stack.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int bng_xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}
