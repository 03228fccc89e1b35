#include "ctl/pcap_file.hpp"

#include <pcap/pcap.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace stt::ctl {

namespace {

// The nanosecond savefile's magic number (either byte order; a microsecond
// file has 0xa1b2c3d4): libpcap does not say which resolution a file was
// written with, so we look at the first four bytes.
constexpr std::uint32_t kMagicNano = 0xa1b23c4d;

std::uint32_t byteswap32(std::uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

struct FileClose {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

TsPrecision sniff_precision(const std::string& path) {
  const std::unique_ptr<std::FILE, FileClose> f(std::fopen(path.c_str(), "rb"));
  if (!f) return TsPrecision::kMicro;
  std::uint32_t magic = 0;
  const std::size_t n = std::fread(&magic, 1, sizeof magic, f.get());
  if (n == sizeof magic && (magic == kMagicNano || byteswap32(magic) == kMagicNano)) {
    return TsPrecision::kNano;
  }
  return TsPrecision::kMicro;
}

}  // namespace

void PcapClose::operator()(pcap* p) const noexcept {
  pcap_close(p);
}

void PcapDumperClose::operator()(pcap_dumper* d) const noexcept {
  pcap_dump_close(d);
}

bool PcapReader::open(const std::string& path, std::string* error) {
  path_ = path;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // Always ask for nanoseconds, so a nanosecond file loses nothing.
  p_.reset(
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf));
  if (!p_) {
    *error = "cannot read pcap '" + path + "': " + errbuf;
    return false;
  }
  int dlt = pcap_datalink(p_.get());
  if (dlt != DLT_EN10MB) {
    const char* name = pcap_datalink_val_to_name(dlt);
    *error = "pcap '" + path + "' has link type " + (name != nullptr ? name : "?") + " (" +
             std::to_string(dlt) + "); only Ethernet (EN10MB) captures are supported";
    p_.reset();
    return false;
  }
  precision_ = sniff_precision(path);
  return true;
}

PcapReader::Next PcapReader::next(PcapRecord* rec, std::string* error) {
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(p_.get(), &hdr, &data);
  if (rc == PCAP_ERROR_BREAK) return Next::kEnd;
  if (rc != 1) {
    *error = "pcap '" + path_ + "', after record " + std::to_string(count_) + ": " +
             pcap_geterr(p_.get());
    return Next::kError;
  }
  ++count_;
  // With nanosecond precision requested, tv_usec holds nanoseconds.
  rec->ts_ns = static_cast<std::uint64_t>(hdr->ts.tv_sec) * 1'000'000'000u +
               static_cast<std::uint64_t>(hdr->ts.tv_usec);
  rec->orig_len = hdr->len;
  rec->data = {data, hdr->caplen};
  rec->number = count_;
  return Next::kRecord;
}

bool PcapWriter::open(const std::string& path, TsPrecision precision, std::string* error) {
  path_ = path;
  precision_ = precision;
  p_.reset(pcap_open_dead_with_tstamp_precision(
      DLT_EN10MB, kPcapSnaplen,
      precision == TsPrecision::kNano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO));
  if (!p_) {
    *error = "cannot create a pcap handle for '" + path + "'";
    return false;
  }
  d_.reset(pcap_dump_open(p_.get(), path.c_str()));
  if (!d_) {
    *error = "cannot write pcap '" + path + "': " + pcap_geterr(p_.get());
    p_.reset();
    return false;
  }
  return true;
}

bool PcapWriter::write(std::uint64_t ts_ns, std::span<const std::uint8_t> data,
                       std::string* error) {
  if (!d_) {
    *error = "pcap '" + path_ + "' is not open";
    return false;
  }
  if (data.size() > kPcapSnaplen) {
    *error = "pcap '" + path_ + "': record of " + std::to_string(data.size()) +
             " bytes exceeds the snap length";
    return false;
  }
  pcap_pkthdr hdr{};
  hdr.ts.tv_sec = static_cast<time_t>(ts_ns / 1'000'000'000u);
  std::uint64_t frac = ts_ns % 1'000'000'000u;
  hdr.ts.tv_usec = static_cast<suseconds_t>(precision_ == TsPrecision::kNano ? frac : frac / 1000u);
  hdr.caplen = static_cast<bpf_u_int32>(data.size());
  hdr.len = hdr.caplen;
  pcap_dump(reinterpret_cast<u_char*>(d_.get()), &hdr, data.data());
  if (std::ferror(pcap_dump_file(d_.get())) != 0) {
    *error = "cannot write pcap '" + path_ + "': " + std::strerror(errno);
    return false;
  }
  ++records_;
  return true;
}

bool PcapWriter::close(std::string* error) {
  bool ok = true;
  if (d_) {
    if (pcap_dump_flush(d_.get()) != 0 || std::ferror(pcap_dump_file(d_.get())) != 0) {
      *error = "cannot write pcap '" + path_ + "': " + std::strerror(errno);
      ok = false;
    }
    d_.reset();
  }
  p_.reset();
  return ok;
}

}  // namespace stt::ctl
