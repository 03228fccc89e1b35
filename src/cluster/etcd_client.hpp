#pragma once
// A small etcd v3 client over gRPC (stubs generated from etcd 3.4's rpc.proto at build time):
// KV (Range, Put, DeleteRange, Txn, Compact), Watch, Lease (Grant, KeepAlive, Revoke,
// TimeToLive) and Auth (user/password token), plain or TLS, over several endpoints with
// failover. Every call blocks for at most EtcdOptions::timeout; it is meant for the Directory
// thread, never for sttd's event loop. Not thread-safe except EtcdWatch::cancel().

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stt::cluster {

struct EtcdOptions {
  std::vector<std::string> endpoints;     // "http://host:port" or "https://host:port"
  std::string tls_ca, tls_cert, tls_key;  // PEM file paths; tls_ca turns TLS on
  std::string user, password;             // both empty: no authentication
  std::chrono::milliseconds timeout{2000};
};

// The outcome of one call. `code` is the gRPC status code (0 = OK).
struct EtcdStatus {
  int code = 0;
  std::string message;
  bool ok() const { return code == 0; }
  // The member is unreachable, or did not answer in time: try another endpoint.
  bool unavailable() const;
  bool compacted() const;        // the requested revision was compacted away
  bool lease_not_found() const;  // the lease expired or was revoked
  bool auth_failed() const;      // bad credentials, expired token, or permission denied
  std::string to_string() const;
};

struct KeyValue {
  std::string key, value;
  std::int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct RangeResult {
  std::int64_t revision = 0;  // the store's revision the read saw
  std::vector<KeyValue> kvs;
  bool more = false;
  std::int64_t count = 0;  // keys in the whole range (not only this page)
};

struct Compare {
  enum class Target : std::uint8_t { kVersion, kCreate, kMod, kValue, kLease };
  enum class Result : std::uint8_t { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = Target::kMod;
  Result result = Result::kEqual;
  std::int64_t number = 0;  // version, revision or lease
  std::string value;        // kValue
};

struct TxnOp {
  enum class Kind : std::uint8_t { kPut, kDelete, kRange };
  Kind kind = Kind::kPut;
  std::string key, value, range_end;
  std::int64_t lease = 0;
  static TxnOp put(std::string k, std::string v, std::int64_t lease = 0) {
    return TxnOp{Kind::kPut, std::move(k), std::move(v), {}, lease};
  }
  static TxnOp del(std::string k) { return TxnOp{Kind::kDelete, std::move(k), {}, {}, 0}; }
  static TxnOp get(std::string k) { return TxnOp{Kind::kRange, std::move(k), {}, {}, 0}; }
};

struct TxnResult {
  bool succeeded = false;
  std::int64_t revision = 0;
  std::vector<RangeResult> ranges;  // one per kRange op of the branch taken, in order
};

// The end of the key range holding every key that starts with `prefix`.
std::string prefix_range_end(const std::string& prefix);

struct WatchEvent {
  enum class Type : std::uint8_t { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;
};

struct WatchBatch {
  std::vector<WatchEvent> events;
  std::int64_t revision = 0;          // header revision
  std::int64_t compact_revision = 0;  // != 0: the start revision was compacted, read again
  bool created = false;
  bool canceled = false;
  std::string cancel_reason;
};

class EtcdWatch {
 public:
  virtual ~EtcdWatch() = default;
  // Blocks until the next response; false when the stream ended (see finish()).
  virtual bool next(WatchBatch& out) = 0;
  // Any thread: makes a blocked next() return false.
  virtual void cancel() = 0;
  // After next() returned false: why the stream ended.
  virtual EtcdStatus finish() = 0;
};

class EtcdClient {
 public:
  explicit EtcdClient(EtcdOptions opts);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // Connects to the current endpoint, or the next ones in turn when it fails, and
  // authenticates if a user is set. Returns the last failure when none answers.
  EtcdStatus connect();
  // Moves to the next endpoint; the next connect() starts there.
  void fail_over();
  const std::string& endpoint() const;

  EtcdStatus range(const std::string& key, const std::string& range_end, RangeResult& out,
                   std::int64_t revision = 0, std::int64_t limit = 0);
  // A read of a large range, in pages of `limit` keys, at `revision` (0: the current one, as
  // the first page saw it): hands every key-value to `each` straight from the responses (no
  // copies; the views die with their page), and calls `first` (when set) once with the first
  // page's revision and count, before its key-values. `out` gets the revision and count, no
  // kvs.
  using KvVisitor = std::function<void(std::string_view key, std::string_view value,
                                       std::int64_t create_revision)>;
  EtcdStatus range_pages(const std::string& key, const std::string& range_end,
                         std::int64_t revision, std::int64_t limit, const KvVisitor& each,
                         const std::function<void(const RangeResult&)>& first, RangeResult& out);
  EtcdStatus put(const std::string& key, const std::string& value, std::int64_t lease = 0,
                 std::int64_t* revision = nullptr);
  EtcdStatus del(const std::string& key, const std::string& range_end = {},
                 std::int64_t* deleted = nullptr);
  EtcdStatus txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                 const std::vector<TxnOp>& failure, TxnResult& out);
  EtcdStatus compact(std::int64_t revision);

  EtcdStatus lease_grant(std::int64_t ttl_s, std::int64_t& id, std::int64_t& granted_ttl);
  // ttl is what remains after the renewal; <= 0 means the lease is gone.
  EtcdStatus lease_keepalive(std::int64_t id, std::int64_t& ttl);
  EtcdStatus lease_revoke(std::int64_t id);
  EtcdStatus lease_time_to_live(std::int64_t id, std::int64_t& ttl);

  // A watch of [key, range_end) from start_revision (0: from now). The stream is its own: it
  // may be read on another thread while this client makes other calls.
  std::unique_ptr<EtcdWatch> watch(const std::string& key, const std::string& range_end,
                                   std::int64_t start_revision, EtcdStatus& status);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stt::cluster
