#include "cluster/etcd_client.hpp"

#include <grpcpp/grpcpp.h>

#include <fstream>
#include <sstream>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace stt::cluster {

namespace pb = etcdserverpb;

namespace {

EtcdStatus from_grpc(const grpc::Status& s) {
  return EtcdStatus{static_cast<int>(s.error_code()), s.error_message()};
}

bool read_file(const std::string& path, std::string& out, EtcdStatus& st) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    st = EtcdStatus{grpc::StatusCode::FAILED_PRECONDITION, "cannot read " + path};
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

void to_kv(const mvccpb::KeyValue& in, KeyValue& out) {
  out.key = in.key();
  out.value = in.value();
  out.create_revision = in.create_revision();
  out.mod_revision = in.mod_revision();
  out.version = in.version();
  out.lease = in.lease();
}

void to_range(const pb::RangeResponse& r, RangeResult& out) {
  out.revision = r.header().revision();
  out.more = r.more();
  out.count = r.count();
  out.kvs.resize(static_cast<std::size_t>(r.kvs_size()));
  for (int i = 0; i < r.kvs_size(); ++i)
    to_kv(r.kvs(i), out.kvs[static_cast<std::size_t>(i)]);
}

void to_op(const TxnOp& op, pb::RequestOp& out) {
  switch (op.kind) {
    case TxnOp::Kind::kPut: {
      auto* p = out.mutable_request_put();
      p->set_key(op.key);
      p->set_value(op.value);
      p->set_lease(op.lease);
      break;
    }
    case TxnOp::Kind::kDelete: {
      auto* d = out.mutable_request_delete_range();
      d->set_key(op.key);
      d->set_range_end(op.range_end);
      break;
    }
    case TxnOp::Kind::kRange: {
      auto* g = out.mutable_request_range();
      g->set_key(op.key);
      g->set_range_end(op.range_end);
      break;
    }
  }
}

void to_compare(const Compare& c, pb::Compare& out) {
  out.set_key(c.key);
  switch (c.result) {
    case Compare::Result::kEqual:
      out.set_result(pb::Compare::EQUAL);
      break;
    case Compare::Result::kGreater:
      out.set_result(pb::Compare::GREATER);
      break;
    case Compare::Result::kLess:
      out.set_result(pb::Compare::LESS);
      break;
    case Compare::Result::kNotEqual:
      out.set_result(pb::Compare::NOT_EQUAL);
      break;
  }
  switch (c.target) {
    case Compare::Target::kVersion:
      out.set_target(pb::Compare::VERSION);
      out.set_version(c.number);
      break;
    case Compare::Target::kCreate:
      out.set_target(pb::Compare::CREATE);
      out.set_create_revision(c.number);
      break;
    case Compare::Target::kMod:
      out.set_target(pb::Compare::MOD);
      out.set_mod_revision(c.number);
      break;
    case Compare::Target::kValue:
      out.set_target(pb::Compare::VALUE);
      out.set_value(c.value);
      break;
    case Compare::Target::kLease:
      out.set_target(pb::Compare::LEASE);
      out.set_lease(c.number);
      break;
  }
}

}  // namespace

bool EtcdStatus::unavailable() const {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::CANCELLED;
}
bool EtcdStatus::compacted() const {
  return code == grpc::StatusCode::OUT_OF_RANGE || message.find("compacted") != std::string::npos;
}
bool EtcdStatus::lease_not_found() const {
  return code == grpc::StatusCode::NOT_FOUND && message.find("lease") != std::string::npos;
}
bool EtcdStatus::auth_failed() const {
  return code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED ||
         code == grpc::StatusCode::INVALID_ARGUMENT;
}
std::string EtcdStatus::to_string() const {
  if (ok()) return "ok";
  return "grpc " + std::to_string(code) + ": " + message;
}

std::string prefix_range_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

struct EtcdClient::Impl {
  EtcdOptions opts;
  std::size_t current = 0;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Watch::Stub> watch;
  std::unique_ptr<pb::Lease::Stub> lease;
  std::unique_ptr<pb::Auth::Stub> auth;
  std::string token;

  // A context for one unary call: the deadline and, when authenticated, the token.
  // false (and `st` set) before the first successful connect().
  bool ready(EtcdStatus& st) const {
    if (kv) return true;
    st = EtcdStatus{grpc::StatusCode::UNAVAILABLE, "not connected"};
    return false;
  }
  void prepare(grpc::ClientContext& ctx, int timeouts = 1) const {
    ctx.set_deadline(std::chrono::system_clock::now() + opts.timeout * timeouts);
    if (!token.empty()) ctx.AddMetadata("token", token);
  }

  // One Range call, its deadline `timeouts` times the call timeout.
  EtcdStatus range(const std::string& key, const std::string& range_end, std::int64_t revision,
                   std::int64_t limit, int timeouts, pb::RangeResponse& resp) {
    if (EtcdStatus st; !ready(st)) return st;
    pb::RangeRequest req;
    req.set_key(key);
    req.set_range_end(range_end);
    req.set_revision(revision);
    req.set_limit(limit);
    grpc::ClientContext ctx;
    prepare(ctx, timeouts);
    return from_grpc(kv->Range(&ctx, req, &resp));
  }

  EtcdStatus open(const std::string& endpoint) {
    std::string target = endpoint;
    bool tls = false;
    if (target.rfind("https://", 0) == 0) {
      tls = true;
      target = target.substr(8);
    } else if (target.rfind("http://", 0) == 0) {
      target = target.substr(7);
    }
    tls = tls || !opts.tls_ca.empty();
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (tls) {
      grpc::SslCredentialsOptions ssl;
      EtcdStatus st;
      if (!opts.tls_ca.empty() && !read_file(opts.tls_ca, ssl.pem_root_certs, st)) return st;
      if (!opts.tls_cert.empty() && !read_file(opts.tls_cert, ssl.pem_cert_chain, st)) return st;
      if (!opts.tls_key.empty() && !read_file(opts.tls_key, ssl.pem_private_key, st)) return st;
      creds = grpc::SslCredentials(ssl);
    } else {
      creds = grpc::InsecureChannelCredentials();
    }
    grpc::ChannelArguments args;
    // A dead member must be noticed by an idle watch stream too, and a restarted one retried
    // soon: our own backoff (in the Directory) paces the attempts.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetMaxReceiveMessageSize(-1);
    channel = grpc::CreateCustomChannel(target, creds, args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + opts.timeout))
      return EtcdStatus{grpc::StatusCode::UNAVAILABLE, "cannot connect to " + endpoint};
    kv = pb::KV::NewStub(channel);
    watch = pb::Watch::NewStub(channel);
    lease = pb::Lease::NewStub(channel);
    auth = pb::Auth::NewStub(channel);
    token.clear();
    if (opts.user.empty()) return {};
    pb::AuthenticateRequest req;
    req.set_name(opts.user);
    req.set_password(opts.password);
    pb::AuthenticateResponse resp;
    grpc::ClientContext ctx;
    prepare(ctx);
    auto s = from_grpc(auth->Authenticate(&ctx, req, &resp));
    if (s.ok()) token = resp.token();
    return s;
  }
};

EtcdClient::EtcdClient(EtcdOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
}
EtcdClient::~EtcdClient() = default;

const std::string& EtcdClient::endpoint() const {
  static const std::string none;
  return impl_->opts.endpoints.empty() ? none : impl_->opts.endpoints[impl_->current];
}

void EtcdClient::fail_over() {
  if (!impl_->opts.endpoints.empty())
    impl_->current = (impl_->current + 1) % impl_->opts.endpoints.size();
}

EtcdStatus EtcdClient::connect() {
  if (impl_->opts.endpoints.empty())
    return EtcdStatus{grpc::StatusCode::INVALID_ARGUMENT, "no etcd endpoint"};
  EtcdStatus last;
  for (std::size_t i = 0; i < impl_->opts.endpoints.size(); ++i) {
    last = impl_->open(endpoint());
    if (last.ok()) return last;
    last.message = endpoint() + ": " + last.message;
    fail_over();
  }
  return last;
}

EtcdStatus EtcdClient::range(const std::string& key, const std::string& range_end, RangeResult& out,
                             std::int64_t revision, std::int64_t limit) {
  pb::RangeResponse resp;
  auto s = impl_->range(key, range_end, revision, limit, 1, resp);
  if (s.ok()) to_range(resp, out);
  return s;
}

namespace {

// One page of a full read, on an arena of large blocks instead of a heap chunk per key and
// value (tens of MB for a large directory): it goes in a few frees when the page is done,
// and does not leave freed chunks between the model's long-lived ones.
struct RangePage {
  std::unique_ptr<google::protobuf::Arena> arena;
  pb::RangeResponse* resp = nullptr;
  EtcdStatus status;
};

}  // namespace

EtcdStatus EtcdClient::range_pages(const std::string& key, const std::string& range_end,
                                   std::int64_t revision, std::int64_t limit, const KvVisitor& each,
                                   const std::function<void(const RangeResult&)>& first,
                                   RangeResult& out) {
  // A page carries tens of thousands of keys: it gets a longer deadline than a call about
  // one key, so a loaded etcd (or host) does not turn every full read into a retry.
  auto fetch = [this, &range_end, limit](const std::string& from, std::int64_t at) {
    RangePage p;
    google::protobuf::ArenaOptions ao;
    ao.start_block_size = 256 << 10;
    ao.max_block_size = 4 << 20;
    p.arena = std::make_unique<google::protobuf::Arena>(ao);
    p.resp = google::protobuf::Arena::CreateMessage<pb::RangeResponse>(p.arena.get());
    p.status = impl_->range(from, range_end, at, limit, 5, *p.resp);
    return p;
  };
  RangePage page = fetch(key, revision);
  if (!page.status.ok()) return page.status;
  out.revision = page.resp->header().revision();
  out.count = page.resp->count();
  out.more = false;
  out.kvs.clear();
  if (first) first(out);
  while (true) {
    const auto& kvs = page.resp->kvs();
    for (const auto& kv : kvs)
      each(kv.key(), kv.value(), kv.create_revision());
    if (!page.resp->more() || kvs.empty()) return page.status;
    const std::string from = kvs[kvs.size() - 1].key() + '\0';  // the next key after it
    page = RangePage{};                                         // one page held at a time
    page = fetch(from, out.revision);
    if (!page.status.ok()) return page.status;
  }
}

EtcdStatus EtcdClient::put(const std::string& key, const std::string& value, std::int64_t lease,
                           std::int64_t* revision) {
  if (EtcdStatus st; !impl_->ready(st)) return st;
  pb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  req.set_lease(lease);
  pb::PutResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  auto s = from_grpc(impl_->kv->Put(&ctx, req, &resp));
  if (s.ok() && revision) *revision = resp.header().revision();
  return s;
}

EtcdStatus EtcdClient::del(const std::string& key, const std::string& range_end,
                           std::int64_t* deleted) {
  if (EtcdStatus st; !impl_->ready(st)) return st;
  pb::DeleteRangeRequest req;
  req.set_key(key);
  req.set_range_end(range_end);
  pb::DeleteRangeResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  auto s = from_grpc(impl_->kv->DeleteRange(&ctx, req, &resp));
  if (s.ok() && deleted) *deleted = resp.deleted();
  return s;
}

EtcdStatus EtcdClient::txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                           const std::vector<TxnOp>& failure, TxnResult& out) {
  if (EtcdStatus st; !impl_->ready(st)) return st;
  pb::TxnRequest req;
  for (const auto& c : compares)
    to_compare(c, *req.add_compare());
  for (const auto& op : success)
    to_op(op, *req.add_success());
  for (const auto& op : failure)
    to_op(op, *req.add_failure());
  pb::TxnResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  auto s = from_grpc(impl_->kv->Txn(&ctx, req, &resp));
  if (!s.ok()) return s;
  out.succeeded = resp.succeeded();
  out.revision = resp.header().revision();
  out.ranges.clear();
  for (const auto& r : resp.responses()) {
    if (!r.has_response_range()) continue;
    out.ranges.emplace_back();
    to_range(r.response_range(), out.ranges.back());
  }
  return s;
}

EtcdStatus EtcdClient::compact(std::int64_t revision) {
  if (EtcdStatus st; !impl_->ready(st)) return st;
  pb::CompactionRequest req;
  req.set_revision(revision);
  req.set_physical(true);
  pb::CompactionResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  return from_grpc(impl_->kv->Compact(&ctx, req, &resp));
}

EtcdStatus EtcdClient::lease_grant(std::int64_t ttl_s, std::int64_t& id,
                                   std::int64_t& granted_ttl) {
  if (EtcdStatus st; !impl_->ready(st)) return st;
  pb::LeaseGrantRequest req;
  req.set_ttl(ttl_s);
  pb::LeaseGrantResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  auto s = from_grpc(impl_->lease->LeaseGrant(&ctx, req, &resp));
  if (s.ok() && !resp.error().empty()) s = EtcdStatus{grpc::StatusCode::UNKNOWN, resp.error()};
  if (s.ok()) {
    id = resp.id();
    granted_ttl = resp.ttl();
  }
  return s;
}

EtcdStatus EtcdClient::lease_keepalive(std::int64_t id, std::int64_t& ttl) {
  if (EtcdStatus st; !impl_->ready(st)) return st;
  // One short stream per renewal: a renewal every ttl/3 seconds does not need a stream kept
  // open, and a stream per call keeps the deadline and the failover simple.
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  auto stream = impl_->lease->LeaseKeepAlive(&ctx);
  pb::LeaseKeepAliveRequest req;
  req.set_id(id);
  pb::LeaseKeepAliveResponse resp;
  bool got = stream->Write(req) && stream->Read(&resp);
  stream->WritesDone();
  auto s = from_grpc(stream->Finish());
  if (got) {
    ttl = resp.ttl();
    return {};
  }
  if (s.ok()) s = EtcdStatus{grpc::StatusCode::UNAVAILABLE, "keepalive stream closed"};
  return s;
}

EtcdStatus EtcdClient::lease_revoke(std::int64_t id) {
  if (EtcdStatus st; !impl_->ready(st)) return st;
  pb::LeaseRevokeRequest req;
  req.set_id(id);
  pb::LeaseRevokeResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  return from_grpc(impl_->lease->LeaseRevoke(&ctx, req, &resp));
}

EtcdStatus EtcdClient::lease_time_to_live(std::int64_t id, std::int64_t& ttl) {
  if (EtcdStatus st; !impl_->ready(st)) return st;
  pb::LeaseTimeToLiveRequest req;
  req.set_id(id);
  pb::LeaseTimeToLiveResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  auto s = from_grpc(impl_->lease->LeaseTimeToLive(&ctx, req, &resp));
  if (s.ok()) ttl = resp.ttl();
  return s;
}

namespace {

class GrpcWatch final : public EtcdWatch {
 public:
  GrpcWatch(pb::Watch::Stub& stub, const std::string& token) {
    if (!token.empty()) ctx_.AddMetadata("token", token);
    stream_ = stub.Watch(&ctx_);
  }
  ~GrpcWatch() override {
    if (!finished_) {
      ctx_.TryCancel();
      finish();
    }
  }

  bool start(const std::string& key, const std::string& range_end, std::int64_t rev) {
    pb::WatchRequest req;
    auto* c = req.mutable_create_request();
    c->set_key(key);
    c->set_range_end(range_end);
    c->set_start_revision(rev);
    return stream_->Write(req);
  }

  bool next(WatchBatch& out) override {
    pb::WatchResponse resp;
    if (!stream_->Read(&resp)) return false;
    out.events.clear();
    out.revision = resp.header().revision();
    out.compact_revision = resp.compact_revision();
    out.created = resp.created();
    out.canceled = resp.canceled();
    out.cancel_reason = resp.cancel_reason();
    out.events.resize(static_cast<std::size_t>(resp.events_size()));
    for (int i = 0; i < resp.events_size(); ++i) {
      const auto& e = resp.events(i);
      auto& o = out.events[static_cast<std::size_t>(i)];
      o.type =
          e.type() == mvccpb::Event::DELETE ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
      to_kv(e.kv(), o.kv);
    }
    return true;
  }

  void cancel() override { ctx_.TryCancel(); }

  EtcdStatus finish() override {
    if (finished_) return status_;
    finished_ = true;
    stream_->WritesDone();
    status_ = from_grpc(stream_->Finish());
    return status_;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::WatchRequest, pb::WatchResponse>> stream_;
  bool finished_ = false;
  EtcdStatus status_;
};

}  // namespace

std::unique_ptr<EtcdWatch> EtcdClient::watch(const std::string& key, const std::string& range_end,
                                             std::int64_t start_revision, EtcdStatus& status) {
  if (!impl_->ready(status)) return nullptr;
  auto w = std::make_unique<GrpcWatch>(*impl_->watch, impl_->token);
  if (!w->start(key, range_end, start_revision)) {
    status = w->finish();
    if (status.ok()) status = EtcdStatus{grpc::StatusCode::UNAVAILABLE, "watch stream closed"};
    return nullptr;
  }
  status = {};
  return w;
}

}  // namespace stt::cluster
