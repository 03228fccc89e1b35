#pragma once
// A small RAII layer over libpcap's savefile API, for the offline tools.
//
// Only Ethernet (DLT_EN10MB) captures are accepted: STT segments and the
// inner frames they carry both start at an Ethernet header. Errors are
// returned as text that names the file, never thrown.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

struct pcap;
struct pcap_dumper;

namespace stt::ctl {

// Timestamps are kept in nanoseconds internally; each file remembers whether
// it was written with microsecond or nanosecond resolution.
enum class TsPrecision : std::uint8_t { kMicro, kNano };

// Deleters for libpcap's handles, so each is closed once, by its owner.
struct PcapClose {
  void operator()(pcap* p) const noexcept;
};
struct PcapDumperClose {
  void operator()(pcap_dumper* d) const noexcept;
};

struct PcapRecord {
  std::uint64_t ts_ns = 0;             // capture time, nanoseconds since the epoch
  std::uint32_t orig_len = 0;          // length on the wire
  std::span<const std::uint8_t> data;  // captured bytes (valid until the next read)
  std::uint64_t number = 0;            // 1-based frame number, as tshark counts
  bool truncated() const { return data.size() < orig_len; }
};

class PcapReader {
 public:
  PcapReader() = default;
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // Opens `path`; false (with *error set) when it is missing, not a pcap,
  // truncated in its header, or not Ethernet.
  bool open(const std::string& path, std::string* error);

  enum class Next : std::uint8_t { kRecord, kEnd, kError };
  // Reads the next record. kError (with *error set) on a truncated or
  // corrupt file.
  Next next(PcapRecord* rec, std::string* error);

  TsPrecision precision() const { return precision_; }
  const std::string& path() const { return path_; }

 private:
  std::unique_ptr<pcap, PcapClose> p_;
  std::string path_;
  TsPrecision precision_ = TsPrecision::kMicro;
  std::uint64_t count_ = 0;
};

class PcapWriter {
 public:
  PcapWriter() = default;
  // Closes the file if close() was not called (a write error then goes
  // unreported: call close() to learn of it).
  ~PcapWriter() = default;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // Creates (or truncates) `path` as an Ethernet pcap.
  bool open(const std::string& path, TsPrecision precision, std::string* error);
  // Appends one record; the captured length is the whole of `data`.
  bool write(std::uint64_t ts_ns, std::span<const std::uint8_t> data, std::string* error);
  // Flushes and closes; false when anything could not be written.
  bool close(std::string* error);
  bool is_open() const { return d_ != nullptr; }
  std::uint64_t records() const { return records_; }

 private:
  std::unique_ptr<pcap, PcapClose> p_;
  std::unique_ptr<pcap_dumper, PcapDumperClose> d_;  // declared after p_: closed first
  std::string path_;
  TsPrecision precision_ = TsPrecision::kMicro;
  std::uint64_t records_ = 0;
};

// Largest record the tools write or expect: a 64 KB STT super-segment plus
// outer headers fits well inside it.
inline constexpr std::uint32_t kPcapSnaplen = 262144;

}  // namespace stt::ctl
