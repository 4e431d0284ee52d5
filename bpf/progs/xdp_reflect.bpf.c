// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_reflect: the least a responder can do. Swaps the Ethernet addresses of every frame and
 * sends it back out (XDP_TX). The benchmark floods it exactly as it floods the DHCP fast path,
 * in the same run, so the fast path's rate can be read against the ceiling of the veth and
 * the generator on this machine rather than against a figure from another day.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int bng_xdp_reflect(struct xdp_md *ctx)
{
	unsigned char *data = (unsigned char *)(long)ctx->data;
	unsigned char *end = (unsigned char *)(long)ctx->data_end;
	unsigned char tmp[ETH_ALEN];

	if (data + ETH_HLEN > end)
		return XDP_DROP;
	__builtin_memcpy(tmp, data, ETH_ALEN);
	__builtin_memcpy(data, data + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(data + ETH_ALEN, tmp, ETH_ALEN);
	return XDP_TX;
}
