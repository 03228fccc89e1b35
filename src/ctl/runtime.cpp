#include "ctl/runtime.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "control/protocol.hpp"
#include "linux/fd.hpp"
#include "wire/addr.hpp"

namespace stt::ctl {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::size_t kMaxReply = 64 * 1024 * 1024;

// ---- Requests --------------------------------------------------------------

std::string verb_of(const std::string& cmd) {
  std::string v = cmd;
  std::replace(v.begin(), v.end(), '_', ' ');
  return v;
}

// Words after the verb: optional leading positionals, then "keyword value"
// pairs, in any order.
struct Words {
  std::vector<std::string> positional;
  std::map<std::string, std::string> kv;
};

Words split_words(const std::string& cmd, const std::vector<std::string>& words,
                  std::size_t n_positional, const std::vector<std::string_view>& keywords) {
  Words w;
  std::size_t i = 0;
  for (; i < words.size() && w.positional.size() < n_positional; ++i) {
    w.positional.push_back(words[i]);
  }
  for (; i < words.size(); i += 2) {
    const std::string& k = words[i];
    const bool known = std::find(keywords.begin(), keywords.end(), k) != keywords.end();
    if (!known) {
      std::string valid;
      for (const std::string_view kw : keywords)
        valid += (valid.empty() ? "" : ", ") + std::string(kw);
      throw RuntimeCommandError(
          verb_of(cmd) + ": unexpected \"" + k + "\"" +
          (valid.empty() ? " (it takes no keywords)" : " (valid keywords: " + valid + ")"));
    }
    if (i + 1 >= words.size()) {
      throw RuntimeCommandError(verb_of(cmd) + ": \"" + k + "\" needs a value");
    }
    if (w.kv.count(k) != 0) throw RuntimeCommandError(verb_of(cmd) + ": \"" + k + "\" given twice");
    w.kv[k] = words[i + 1];
  }
  return w;
}

// How the command line spells an argument's value (in messages and help).
std::string_view metavar(std::string_view arg) {
  if (arg == control::arg::kMac) return "MAC";
  if (arg == control::arg::kPeer) return "IP";
  return "N";
}

// Refuses a value the daemon would refuse, before connecting.
std::string checked(const std::string& cmd, std::string_view arg, const std::string& s) {
  if (arg == control::arg::kMac && !wire::MacAddr::parse(s)) {
    throw RuntimeCommandError(verb_of(cmd) + ": \"" + s + "\" is not a MAC address");
  }
  if (arg == control::arg::kPeer && !wire::IpAddr::parse(s)) {
    throw RuntimeCommandError(verb_of(cmd) + ": \"" + s + "\" is not an IP address");
  }
  return s;
}

// ---- Text rendering --------------------------------------------------------

bool is_scalar(const Json& j) {
  return !j.is_object() && !j.is_array();
}

bool is_scalar_list(const Json& j) {
  return j.is_array() &&
         std::all_of(j.begin(), j.end(), [](const Json& x) { return is_scalar(x); });
}

// A list of phrases (a string with a space in it), such as reload's
// "changes": one per line, since joined by spaces they would run together.
bool is_phrase_list(const Json& j) {
  return is_scalar_list(j) && std::any_of(j.begin(), j.end(), [](const Json& x) {
           return x.is_string() && x.get<std::string>().find(' ') != std::string::npos;
         });
}

// Rendered on the line of its key: a scalar, or a list of words.
bool is_inline(const Json& j) {
  return is_scalar(j) || (is_scalar_list(j) && !is_phrase_list(j));
}

std::string scalar_text(const Json& j) {
  if (j.is_string()) return j.get<std::string>().empty() ? "-" : j.get<std::string>();
  if (j.is_null()) return "-";
  if (is_scalar_list(j)) {
    if (j.empty()) return "-";
    std::string s;
    for (const auto& x : j) {
      if (!s.empty()) s += ' ';
      s += scalar_text(x);
    }
    return s;
  }
  return j.dump();
}

// A flat object: every value is a scalar or a list of scalars.
bool is_flat(const Json& j) {
  return j.is_object() && std::all_of(j.begin(), j.end(), [](const Json& v) {
           return is_scalar(v) || is_scalar_list(v);
         });
}

void pad_to(std::string& out, std::size_t have, std::size_t width) {
  if (have < width) out.append(width - have, ' ');
}

void render(const Json& j, std::size_t indent, std::string& out);

void render_table(const Json& rows, std::size_t indent, std::string& out) {
  std::vector<std::string> cols;
  for (const auto& r : rows) {
    for (const auto& [k, v] : r.items()) {
      if (std::find(cols.begin(), cols.end(), k) == cols.end()) cols.push_back(k);
    }
  }
  // Identifying columns lead (the daemon's objects may come sorted by key),
  // then an entry's kind: `fdb show` reads as `bridge fdb show` (MAC, where
  // it points, static or learned) before the age.
  auto rank = [](const std::string& k) {
    static constexpr const char* kFirst[] = {"name", "network", "mac", "peer", "type"};
    for (std::size_t i = 0; i < std::size(kFirst); ++i) {
      if (k == kFirst[i]) return i;
    }
    return std::size(kFirst);
  };
  std::stable_sort(cols.begin(), cols.end(),
                   [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> width(cols.size());
  std::vector<std::string> header;
  for (std::size_t c = 0; c < cols.size(); ++c) {
    std::string h = cols[c];
    std::transform(h.begin(), h.end(), h.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
    width[c] = h.size();
    header.push_back(std::move(h));
  }
  for (const auto& r : rows) {
    std::vector<std::string> line;
    for (std::size_t c = 0; c < cols.size(); ++c) {
      auto it = r.find(cols[c]);
      line.push_back(it == r.end() ? "-" : scalar_text(*it));
      width[c] = std::max(width[c], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto emit = [&](const std::vector<std::string>& line) {
    std::string s(indent, ' ');
    for (std::size_t c = 0; c < line.size(); ++c) {
      s += line[c];
      if (c + 1 < line.size()) pad_to(s, line[c].size(), width[c] + 2);
    }
    out += s;
    out += '\n';
  };
  emit(header);
  for (const auto& line : cells)
    emit(line);
}

std::string section_title(const Json& element, std::size_t index) {
  for (const char* k : {"name", "network", "id"}) {
    auto it = element.find(k);
    if (it != element.end() && is_scalar(*it)) return scalar_text(*it);
  }
  return "[" + std::to_string(index) + "]";
}

void render_object(const Json& j, std::size_t indent, std::string& out) {
  // Scalars first as aligned rows, then nested sections, each in key order.
  std::size_t w = 0;
  for (const auto& [k, v] : j.items()) {
    if (is_inline(v)) w = std::max(w, k.size());
  }
  for (const auto& [k, v] : j.items()) {
    if (!is_inline(v)) continue;
    std::string s(indent, ' ');
    s += k;
    pad_to(s, k.size(), w + 2);
    s += scalar_text(v);
    out += s;
    out += '\n';
  }
  for (const auto& [k, v] : j.items()) {
    if (is_inline(v)) continue;
    out += std::string(indent, ' ') + k + ":\n";
    render(v, indent + 2, out);
  }
}

void render(const Json& j, std::size_t indent, std::string& out) {
  if (j.is_object()) return render_object(j, indent, out);
  if (j.is_array()) {
    if (j.empty()) {
      out += std::string(indent, ' ') + "(none)\n";
      return;
    }
    if (std::all_of(j.begin(), j.end(), [](const Json& e) { return is_flat(e); })) {
      return render_table(j, indent, out);
    }
    if (is_phrase_list(j)) {
      for (const auto& x : j)
        out += std::string(indent, ' ') + "- " + scalar_text(x) + "\n";
      return;
    }
    if (is_scalar_list(j)) {
      out += std::string(indent, ' ') + scalar_text(j) + "\n";
      return;
    }
    for (std::size_t i = 0; i < j.size(); ++i) {
      if (j[i].is_object()) {
        out += std::string(indent, ' ') + section_title(j[i], i) + ":\n";
        render(j[i], indent + 2, out);
      } else {
        render(j[i], indent, out);
      }
    }
    return;
  }
  out += std::string(indent, ' ') + scalar_text(j) + "\n";
}

// ---- Socket ---------------------------------------------------------------

std::string reach_error(const std::string& path, int err) {
  std::string m = "cannot reach sttd at " + path + ": " + std::strerror(err);
  if (err == ENOENT || err == ECONNREFUSED)
    m += " (is sttd running? use -s PATH for another socket)";
  return m;
}

// ---- Commands -------------------------------------------------------------

struct Common {
  std::string socket;  // -s; empty: the default socket of `config`
  std::string config = control::kDefaultConfig;
  bool json = false;
  bool all = false;  // stats: zeros too

  std::string socket_path() const {
    return socket.empty() ? control::default_socket(config) : socket;
  }
};

void add_common(CLI::App* sub, Common& c) {
  sub->add_option("-s,--socket", c.socket, "sttd's control socket")
      ->default_str(control::default_socket(control::kDefaultConfig))
      ->type_name("PATH");
  sub->add_option("-c,--config", c.config,
                  "the sttd instance whose config is FILE: its default socket "
                  "/run/stt/<FILE's name less .toml>.sock")
      ->default_str(control::kDefaultConfig)
      ->type_name("FILE");
  sub->add_flag("-j,--json", c.json, "print the daemon's JSON result");
}

// `stats` without -a: counters at zero are left out, and so are groups left
// empty; identifying values (context_id) stay with the group they name.
void hide_zeros(Json& j) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end();) {
    Json& v = it.value();
    hide_zeros(v);
    const bool zero = v.is_number() && v == 0 && it.key() != "context_id";
    const bool empty = v.is_object() && (v.empty() || (v.size() == 1 && v.contains("context_id")));
    it = zero || empty ? j.erase(it) : std::next(it);
  }
}

// `quiet`: the text form prints nothing on success, like `bridge fdb add` and
// `ip link set` (the result, such as the peer `fdb del` removed, is in -j).
void run(const Common& c, const std::string& cmd, const std::vector<std::string>& words,
         bool quiet) {
  try {
    Json result = call_daemon(c.socket_path(), build_request(cmd, words));
    std::string out;
    if (cmd == control::verb::kStats && !c.all && !c.json) {
      hide_zeros(result);
      if (result.empty()) result = Json{{"counters", "all zero (sttctl stats -a shows them)"}};
    }
    if (c.json) {
      out = result.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
    } else if (!quiet) {
      out = render_text(result);
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  } catch (const RuntimeCommandError& e) {
    std::fprintf(stderr, "sttctl: %s\n", e.what());
    throw CLI::RuntimeError(1);
  }
}

// A verb whose words are kept for build_request.
CLI::App* verb(CLI::App* parent, const char* name, const char* help, const std::string& cmd,
               Common& common, bool quiet, const char* words_help = nullptr) {
  CLI::App* sub = parent->add_subcommand(name, help);
  add_common(sub, common);
  auto words = std::make_shared<std::vector<std::string>>();
  if (words_help != nullptr) sub->add_option("words", *words, words_help)->type_name("");
  sub->callback([&common, cmd, words, quiet] { run(common, cmd, *words, quiet); });
  return sub;
}

}  // namespace

Json build_request(const std::string& cmd, const std::vector<std::string>& words) {
  const std::optional<control::VerbSpec> spec = control::find_verb(cmd);
  if (!spec) throw RuntimeCommandError(verb_of(cmd) + ": not a command of sttd");
  // A verb with required arguments takes its first one as a positional word
  // (`fdb add MAC ...`, `peer add IP ...`); the rest are "keyword value" pairs.
  const std::size_t n_positional = spec->required > 0 ? 1 : 0;
  std::vector<std::string_view> keywords;
  for (std::size_t i = n_positional; i < spec->args.size(); ++i) {
    if (!spec->args[i].empty()) keywords.push_back(spec->args[i]);
  }
  const Words w = split_words(cmd, words, n_positional, keywords);
  Json req = {{control::kCmd, cmd}};
  for (std::size_t i = 0; i < spec->args.size() && !spec->args[i].empty(); ++i) {
    const std::string_view arg = spec->args[i];
    const std::string key(arg);
    if (i < n_positional) {
      if (w.positional.empty()) {
        throw RuntimeCommandError(verb_of(cmd) + ": missing " + std::string(metavar(arg)));
      }
      req[key] = checked(cmd, arg, w.positional[0]);
      continue;
    }
    auto it = w.kv.find(key);
    if (it == w.kv.end()) {
      if (i >= spec->required) continue;  // optional
      throw RuntimeCommandError(verb_of(cmd) + ": missing \"" + key + " " +
                                std::string(metavar(arg)) + "\"");
    }
    req[key] = checked(cmd, arg, it->second);
  }
  return req;
}

Json call_daemon(const std::string& path, const Json& request, int timeout_s) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw RuntimeCommandError("control socket path \"" + path + "\" is empty or too long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const sys::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw RuntimeCommandError(std::string("socket: ") + std::strerror(errno));
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw RuntimeCommandError(reach_error(path, errno));
  }
  timeval tv{};
  tv.tv_sec = timeout_s;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  const std::string line = request.dump() + "\n";
  for (std::size_t off = 0; off < line.size();) {
    const ssize_t n = send(fd.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw RuntimeCommandError("sending to sttd at " + path + ": " + std::strerror(errno));
    }
    off += static_cast<std::size_t>(n);
  }

  std::string reply;
  char buf[65536];
  for (;;) {
    if (reply.find('\n') != std::string::npos) break;
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      reply.append(buf, static_cast<std::size_t>(n));
      if (reply.size() > kMaxReply) throw RuntimeCommandError("reply from sttd is too large");
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      throw RuntimeCommandError("no reply from sttd at " + path + " within " +
                                std::to_string(timeout_s) + " s");
    }
    throw RuntimeCommandError("reading from sttd at " + path + ": " + std::strerror(errno));
  }
  const std::size_t nl = reply.find('\n');
  if (nl == std::string::npos) {
    throw RuntimeCommandError("sttd at " + path + " closed the connection without a reply");
  }
  reply.resize(nl);

  Json r = Json::parse(reply, nullptr, false);
  if (r.is_discarded() || !r.is_object() || !r.contains(control::kOk)) {
    throw RuntimeCommandError("malformed reply from sttd at " + path);
  }
  if (r[control::kOk] != true) {
    auto e = r.find(control::kError);
    throw RuntimeCommandError(e != r.end() && e->is_string() ? e->get<std::string>()
                                                             : "sttd reported an error");
  }
  auto res = r.find(control::kResult);
  return res == r.end() ? Json() : *res;
}

std::string render_text(const Json& result) {
  std::string out;
  render(result, 0, out);
  return out;
}

void register_runtime_commands(CLI::App& app) {
  // One set of values per process: only one verb runs.
  static Common common;
  // sttctl runs one verb. Saying so also stops CLI11 from taking a keyword
  // such as "peer" in `fdb add MAC network N peer IP` for the `peer` verb:
  // a parent whose subcommand quota is used up no longer matches names.
  if (app.get_require_subcommand_max() == 0) {
    app.require_subcommand(static_cast<int>(app.get_require_subcommand_min()), 1);
  }

  // iproute2 style (`ip -j link`): -s and -j may also come before the verb.
  add_common(&app, common);

  verb(&app, "show", "show the running sttd: daemon, fast path, firewall, networks, peers, underlay",
       control::verb::kShow, common, false);
  verb(&app, "stats", "show the counters that are not zero, global and per network (-a: all)",
       control::verb::kStats, common, false)
      ->add_flag("-a,--all", common.all, "show counters at zero too");
  verb(&app, "reassembly", "show frames in flight, memory in use and limits",
       control::verb::kReassembly, common, false);
  verb(&app, "cluster", "show the etcd directory: state, endpoint, lease, hosts, MACs, counters",
       control::verb::kCluster, common, false);
  verb(&app, "reload", "re-read the configuration file", control::verb::kReload, common, false);

  CLI::App* fdb = app.add_subcommand("fdb", "the forwarding table: MAC -> peer");
  add_common(fdb, common);
  fdb->require_subcommand(1);
  verb(fdb, "show", "list entries: sttctl fdb show [network N]", control::verb::kFdbShow, common,
       false, "[network N]");
  verb(fdb, "add", "add a static entry: sttctl fdb add MAC network N peer IP",
       control::verb::kFdbAdd, common, true, "MAC network N peer IP");
  verb(fdb, "del",
       "delete an entry: sttctl fdb del MAC network N [peer IP] (with peer: only if it points "
       "there)",
       control::verb::kFdbDel, common, true, "MAC network N [peer IP]");

  // `sttctl log-level [LEVEL]`, like `ovs-appctl vlog/set`: the one
  // argument is positional, so the words become "level LEVEL".
  CLI::App* ll = app.add_subcommand(
      "log-level", "show or set sttd's log level: trace, debug, info, warn, error, critical, off");
  add_common(ll, common);
  auto level = std::make_shared<std::string>();
  ll->add_option("LEVEL", *level, "the new level (without it: print the current one)");
  ll->callback([level] {
    std::vector<std::string> words;
    if (!level->empty()) words = {control::arg::kLevel, *level};
    run(common, control::verb::kLogLevel, words, false);
  });

  CLI::App* peer = app.add_subcommand("peer", "the remote endpoints of a network");
  add_common(peer, common);
  peer->require_subcommand(1);
  verb(peer, "add", "add a peer: sttctl peer add IP network N", control::verb::kPeerAdd, common,
       true, "IP network N");
  verb(peer, "del", "delete a peer and its FDB entries: sttctl peer del IP network N",
       control::verb::kPeerDel, common, true, "IP network N");
}

}  // namespace stt::ctl
