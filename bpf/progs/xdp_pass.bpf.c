// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_pass: passes every frame. Attached to the far end of a veth so that frames the fast
 * path sends with XDP_TX are received there: veth hands XDP_TX frames only to a peer that has
 * XDP (and so NAPI) enabled. Used by the lab and the tests, never on a real port.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int bng_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
