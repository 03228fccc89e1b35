"""A small builder of outer STT packets for hostile-input tests (Python 3 stdlib only).

Everything is built from fields, checksums computed, so a test can change exactly
one thing (a checksum, a length, a flag, an option) and leave the rest valid.
Offsets and flag values follow ../../../shared/spec/stt-digest.md §1 and
docs/protocol.md (C=0x01, P=0x02, IPv4=0x04, TCP=0x08).
"""

import ipaddress
import struct

STT_PORT = 7471
FLAG_C, FLAG_P, FLAG_IPV4, FLAG_TCP = 0x01, 0x02, 0x04, 0x08
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80)
ETH_IPV4, ETH_IPV6, ETH_VLAN = 0x0800, 0x86DD, 0x8100
TEST_ETHERTYPE = 0x88B5  # IEEE local experimental: no stack on any host handles it


def mac(s):
    return bytes.fromhex(s.replace(":", ""))


def ip_bytes(a):
    return ipaddress.ip_address(a).packed


def csum(data, init=0):
    """Internet checksum (RFC 1071): the inverted folded one's-complement sum."""
    if len(data) % 2:
        data += b"\0"
    s = init + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def pseudo_sum(src, dst, proto, length):
    s, d = ip_bytes(src), ip_bytes(dst)
    if len(s) == 4:
        ph = s + d + struct.pack("!BBH", 0, proto, length)
    else:
        ph = s + d + struct.pack("!IxxxB", length, proto)
    return sum(struct.unpack("!%dH" % (len(ph) // 2), ph))


def eth(dst, src, ethertype, payload, vlan_tci=None):
    tag = b"" if vlan_tci is None else struct.pack("!HH", ETH_VLAN, vlan_tci)
    return mac(dst) + mac(src) + tag + struct.pack("!H", ethertype) + payload


def ipv4(src, dst, payload, proto=6, ident=1, df=True, mf=False, frag_off=0, ttl=64, tos=0,
         total_len=None, bad_csum=False, options=b""):
    ihl = 5 + len(options) // 4
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_off & 0x1FFF)
    tl = total_len if total_len is not None else ihl * 4 + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, tl, ident, flags, ttl, proto, 0,
                    ip_bytes(src), ip_bytes(dst)) + options
    c = csum(h)
    if bad_csum:
        c ^= 0x0101
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def ipv6(src, dst, payload, next_header=6, hop_limit=64, ext=b"", payload_len=None):
    """ext: already-built extension headers (their own next-header fields chain them);
    next_header: the type of the first header after the base header."""
    pl = payload_len if payload_len is not None else len(ext) + len(payload)
    return struct.pack("!IHBB16s16s", 0x60000000, pl, next_header, hop_limit,
                       ip_bytes(src), ip_bytes(dst)) + ext + payload


def ext_padn(nh, kind):
    """A hop-by-hop (kind 0) or destination-options (kind 60) header of 8 bytes (PadN)."""
    return struct.pack("!BB", nh, 0) + bytes([1, 4, 0, 0, 0, 0])


def ext_routing0(nh):
    """A routing header (type 0, segments left 0: processed as absent), 8 bytes."""
    return struct.pack("!BBBB", nh, 0, 0, 0) + bytes(4)


def ext_fragment(nh, offset=0, more=False, ident=0x1234):
    return struct.pack("!BBHI", nh, 0, (offset << 3) | (1 if more else 0), ident)


def tcp(src, dst, sport, dport, seq, ack, flags, payload, doff=None, options=b"",
        window=0, urg=0, bad_csum=False):
    if doff is None:
        doff = 5 + len(options) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                    (doff & 0xF) << 4, flags, window, 0, urg) + options
    seg = h + payload
    c = csum(seg, pseudo_sum(src, dst, 6, len(seg)))
    if bad_csum:
        c ^= 0x0101
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def stt_header(context_id, version=0, flags=0, l4_offset=0, reserved=0, mss=0, tci=0, padding=0):
    return struct.pack("!BBBBHHQH", version, flags, l4_offset, reserved, mss, tci,
                       context_id, padding)


def inner_eth(dst, src, marker, size=64, ethertype=TEST_ETHERTYPE):
    """An inner Ethernet frame carrying `marker` then a counting pattern (size bytes of payload)."""
    body = marker + bytes(i & 0xFF for i in range(max(0, size - len(marker))))
    return mac(dst) + mac(src) + struct.pack("!H", ethertype) + body


def inner_udp4(dst, src, ip_src, ip_dst, marker, size=64, partial=False):
    """An inner Ethernet/IPv4/UDP frame. partial: the UDP checksum field holds the
    pseudo-header sum (what P=1 promises, digest §5.2), else the full checksum."""
    data = marker + bytes(i & 0xFF for i in range(max(0, size - len(marker))))
    ulen = 8 + len(data)
    if partial:
        ps = pseudo_sum(ip_src, ip_dst, 17, ulen)
        while ps >> 16:
            ps = (ps & 0xFFFF) + (ps >> 16)
        uc = ps
    else:
        u0 = struct.pack("!HHHH", 4000, 4001, ulen, 0) + data
        uc = csum(u0, pseudo_sum(ip_src, ip_dst, 17, ulen)) or 0xFFFF
    udp = struct.pack("!HHHH", 4000, 4001, ulen, uc) + data
    return mac(dst) + mac(src) + struct.pack("!H", ETH_IPV4) + ipv4(ip_src, ip_dst, udp, proto=17)


class Endpoint:
    """Where the attacker's frames go: MACs and addresses of the outer headers."""

    def __init__(self, src_mac, dst_mac, src_ip, dst_ip, port=STT_PORT):
        self.src_mac, self.dst_mac = src_mac, dst_mac
        self.src_ip, self.dst_ip = src_ip, dst_ip
        self.port = port
        self.v6 = ":" in dst_ip

    def segment(self, frame_len, offset, payload, packet_id, src_ip=None, sport=50000,
                flags=TCP_ACK | TCP_PSH, tcp_kw=None, ip_kw=None, ipv6_ext=b"",
                ipv6_first_nh=None):
        """One outer packet carrying `payload` at `offset` of an STT frame of frame_len."""
        src = src_ip or self.src_ip
        t = tcp(src, self.dst_ip, sport, self.port, (frame_len << 16) | offset, packet_id, flags,
                payload, **(tcp_kw or {}))
        if self.v6:
            nh = 6 if ipv6_first_nh is None else ipv6_first_nh
            ip = ipv6(src, self.dst_ip, t, next_header=nh, ext=ipv6_ext, **(ip_kw or {}))
            et = ETH_IPV6
        else:
            ip = ipv4(src, self.dst_ip, t, **(ip_kw or {}))
            et = ETH_IPV4
        return eth(self.dst_mac, self.src_mac, et, ip)

    def frame(self, stt_frame, packet_id, pieces=None, **kw):
        """The STT frame cut into pieces [(offset, length)], default one piece."""
        if pieces is None:
            pieces = [(0, len(stt_frame))]
        return [self.segment(len(stt_frame), o, stt_frame[o:o + n], packet_id, **kw)
                for o, n in pieces]
