#include "daemon/control.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "control/protocol.hpp"
#include "ctl/runtime.hpp"

namespace stt::daemon {
namespace {

using nlohmann::json;

// Records each call and answers with its name and arguments.
class FakeHandler : public ControlHandler {
 public:
  std::vector<std::string> calls;
  std::string throw_request_error;  // non-empty: the next call throws ControlRequestError
  bool throw_other = false;

  json answer(const std::string& call) {
    calls.push_back(call);
    if (!throw_request_error.empty()) throw ControlRequestError(throw_request_error);
    if (throw_other) throw std::runtime_error("boom");
    return json{{"call", call}};
  }
  json show() override { return answer("show"); }
  json fdb_show(const std::string& n) override { return answer("fdb_show(" + n + ")"); }
  json fdb_add(const std::string& m, const std::string& n, const std::string& p) override {
    return answer("fdb_add(" + m + "," + n + "," + p + ")");
  }
  json fdb_del(const std::string& m, const std::string& n, const std::string& p) override {
    return answer("fdb_del(" + m + "," + n + "," + p + ")");
  }
  json peer_add(const std::string& p, const std::string& n) override {
    return answer("peer_add(" + p + "," + n + ")");
  }
  json peer_del(const std::string& p, const std::string& n) override {
    return answer("peer_del(" + p + "," + n + ")");
  }
  json stats() override { return answer("stats"); }
  json reassembly() override { return answer("reassembly"); }
  json cluster() override { return answer("cluster"); }
  json reload() override { return answer("reload"); }
};

struct Dispatch {
  std::string request;
  std::string call;
};

class ControlDispatch : public ::testing::TestWithParam<Dispatch> {};

TEST_P(ControlDispatch, EachCommandReachesItsHandlerWithItsArguments) {
  FakeHandler h;
  const json reply = json::parse(handle_control_request(h, GetParam().request));
  EXPECT_EQ(reply, (json{{"ok", true}, {"result", {{"call", GetParam().call}}}}));
  EXPECT_EQ(h.calls, std::vector<std::string>{GetParam().call});
}

INSTANTIATE_TEST_SUITE_P(
    Commands, ControlDispatch,
    ::testing::Values(
        Dispatch{R"({"cmd":"show"})", "show"}, Dispatch{R"({"cmd":"fdb_show"})", "fdb_show()"},
        Dispatch{R"({"cmd":"fdb_show","network":"blue"})", "fdb_show(blue)"},
        Dispatch{
            R"({"cmd":"fdb_add","mac":"02:00:00:00:00:02","network":"blue","peer":"10.0.0.2"})",
            "fdb_add(02:00:00:00:00:02,blue,10.0.0.2)"},
        Dispatch{R"({"cmd":"fdb_del","mac":"02:00:00:00:00:02","network":"blue","peer":"fd00::2"})",
                 "fdb_del(02:00:00:00:00:02,blue,fd00::2)"},
        Dispatch{R"({"cmd":"peer_add","peer":"10.0.0.3","network":"red"})",
                 "peer_add(10.0.0.3,red)"},
        Dispatch{R"({"cmd":"peer_del","peer":"10.0.0.3","network":"red"})",
                 "peer_del(10.0.0.3,red)"},
        Dispatch{R"({"cmd":"stats"})", "stats"}, Dispatch{R"({"cmd":"reassembly"})", "reassembly"},
        Dispatch{R"({"cmd":"reload"})", "reload"}, Dispatch{R"({"cmd":"cluster"})", "cluster"}));

// The protocol's names are what scripts and docs/cli.md use: renaming one in
// control/protocol.hpp would change sttd and sttctl together and still
// break every other client.
TEST(ControlProtocol, NamesAreStable) {
  std::vector<std::string> verbs;
  for (const control::VerbSpec& v : control::kVerbs)
    verbs.emplace_back(v.name);
  EXPECT_EQ(verbs,
            (std::vector<std::string>{"show", "stats", "reassembly", "cluster", "reload",
                                      "fdb_show", "fdb_add", "fdb_del", "peer_add", "peer_del"}));
  EXPECT_EQ(std::string(control::kCmd), "cmd");
  EXPECT_EQ(std::string(control::kOk), "ok");
  EXPECT_EQ(std::string(control::kResult), "result");
  EXPECT_EQ(std::string(control::kError), "error");
  EXPECT_EQ(std::string(control::arg::kMac), "mac");
  EXPECT_EQ(std::string(control::arg::kNetwork), "network");
  EXPECT_EQ(std::string(control::arg::kPeer), "peer");
}

// Every verb of the table: sttctl builds its request from the table, sttd
// accepts it and calls the one handler of that verb with every argument.
TEST(ControlProtocol, EveryVerbSttctlBuildsIsServedBySttd) {
  for (const control::VerbSpec& v : control::kVerbs) {
    SCOPED_TRACE(std::string(v.name));
    std::vector<std::string> words;
    std::string want_args;
    for (std::size_t i = 0; i < v.args.size() && !v.args[i].empty(); ++i) {
      const std::string value = v.args[i] == control::arg::kMac    ? "02:00:00:00:00:02"
                                : v.args[i] == control::arg::kPeer ? "10.0.0.2"
                                                                   : "blue";
      if (!(i == 0 && v.required > 0)) words.emplace_back(v.args[i]);
      words.push_back(value);
      want_args += (want_args.empty() ? "" : ",") + value;
    }
    const std::string request = ctl::build_request(std::string(v.name), words).dump();
    FakeHandler h;
    const json reply = json::parse(handle_control_request(h, request));
    EXPECT_EQ(reply.value(control::kOk, false), true) << request << " -> " << reply.dump();
    const std::string want = std::string(v.name) + (v.args[0].empty() ? "" : "(" + want_args + ")");
    EXPECT_EQ(h.calls, std::vector<std::string>{want}) << request;
  }
}

struct Refused {
  std::string request;
  std::string error;  // exact, or a prefix when it ends with '*'
};

class ControlRefused : public ::testing::TestWithParam<Refused> {};

TEST_P(ControlRefused, IsAnErrorReplyAndNeverReachesTheHandler) {
  FakeHandler h;
  const json reply = json::parse(handle_control_request(h, GetParam().request));
  ASSERT_EQ(reply.at("ok"), false);
  const std::string err = reply.at("error");
  const std::string& want = GetParam().error;
  if (!want.empty() && want.back() == '*') {
    EXPECT_EQ(err.substr(0, want.size() - 1), want.substr(0, want.size() - 1));
  } else {
    EXPECT_EQ(err, want);
  }
  EXPECT_TRUE(h.calls.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Requests, ControlRefused,
    ::testing::Values(
        Refused{"{\"cmd\": \"show\"", "malformed JSON request: *"},
        Refused{"", "malformed JSON request: *"}, Refused{"\xff\xfe", "malformed JSON request: *"},
        Refused{"[1,2]", "request must be a JSON object"},
        Refused{R"({"command":"show"})", "request needs a string \"cmd\""},
        Refused{R"({"cmd":7})", "request needs a string \"cmd\""},
        Refused{R"({"cmd":"shwo"})", "unknown command \"shwo\""},
        Refused{R"({"cmd":"show","network":"x"})", "unknown argument \"network\" for \"show\""},
        Refused{R"({"cmd":"fdb_add","mac":"02:00:00:00:00:02","network":"blue"})",
                "missing argument \"peer\""},
        Refused{R"({"cmd":"fdb_add","mac":"zz","network":"blue","peer":"10.0.0.2"})",
                "invalid MAC address \"zz\""},
        Refused{R"({"cmd":"peer_add","peer":"10.0.0.256","network":"blue"})",
                "invalid IP address \"10.0.0.256\""},
        Refused{R"({"cmd":"peer_add","peer":"10.0.0.2","network":""})",
                "argument \"network\" must not be empty"},
        Refused{R"({"cmd":"fdb_show","network":5})", "argument \"network\" must be a string"}));

TEST(ControlRequest, HandlerErrorsBecomeErrorReplies) {
  FakeHandler h;
  h.throw_request_error = "no network \"green\"";
  EXPECT_EQ(json::parse(handle_control_request(h, R"({"cmd":"fdb_show","network":"green"})")),
            (json{{"ok", false}, {"error", "no network \"green\""}}));
  h.throw_request_error.clear();
  h.throw_other = true;
  EXPECT_EQ(json::parse(handle_control_request(h, R"({"cmd":"stats"})")),
            (json{{"ok", false}, {"error", "internal error: boom"}}));
  EXPECT_EQ(h.calls.size(), 2u);
}

// --- The server over a real Unix socket -----------------------------------

class TempDir {
 public:
  TempDir() {
    char t[] = "/tmp/stt-control-test-XXXXXX";
    if (mkdtemp(t) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = t;
  }
  ~TempDir() {
    if (DIR* d = opendir(path_.c_str())) {
      while (dirent* e = readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") unlink((path_ + "/" + n).c_str());
      }
      closedir(d);
    }
    rmdir(path_.c_str());
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

int open_fd_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr)
      ++n;
    closedir(d);
  }
  return n;
}

// A non-blocking client the test pumps from the event loop's tick.
class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::system_error(errno, std::generic_category(), "connect");
    }
    fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(const std::string& s) { out_ += s; }
  void shutdown_write() { want_shutdown_ = true; }
  void pump() {
    if (fd_ < 0) return;
    while (!out_.empty()) {
      const ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      out_.erase(0, static_cast<std::size_t>(n));
    }
    if (out_.empty() && want_shutdown_) {
      ::shutdown(fd_, SHUT_WR);
      want_shutdown_ = false;
    }
    char buf[4096];
    for (;;) {
      const ssize_t n = read(fd_, buf, sizeof buf);
      if (n > 0) {
        in_.append(buf, static_cast<std::size_t>(n));
      } else {
        if (n == 0) eof_ = true;
        break;
      }
    }
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::size_t start = 0, nl;
    while ((nl = in_.find('\n', start)) != std::string::npos) {
      v.push_back(in_.substr(start, nl - start));
      start = nl + 1;
    }
    return v;
  }
  bool eof() const { return eof_; }

 private:
  int fd_ = -1;
  std::string out_, in_;
  bool want_shutdown_ = false;
  bool eof_ = false;
};

class ControlServerTest : public ::testing::Test {
 protected:
  // Runs the loop, pumping the clients, until `done` holds or 5 s pass.
  bool run_until(std::vector<Client*> clients, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    loop.run(5, [&] {
      for (Client* c : clients)
        c->pump();
      if (done() || std::chrono::steady_clock::now() > deadline) loop.stop();
    });
    return done();
  }

  TempDir dir;
  std::string path = dir.file("sttd.sock");
  FakeHandler handler;
  EventLoop loop;
};

TEST_F(ControlServerTest, AnswersRequestsInOrderAndSplitAcrossWrites) {
  ControlServer server(path, handler, loop);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Client c(path);
  c.send("{\"cmd\":\"show\"}\n\n{\"cmd\":\"stats\"}\r\n{\"cmd\":\"fdb_sh");
  ASSERT_TRUE(run_until({&c}, [&] { return c.lines().size() == 2; }));
  c.send("ow\"}\n");
  ASSERT_TRUE(run_until({&c}, [&] { return c.lines().size() == 3; }));
  const auto l = c.lines();
  EXPECT_EQ(json::parse(l[0])["result"]["call"], "show");
  EXPECT_EQ(json::parse(l[1])["result"]["call"], "stats");
  EXPECT_EQ(json::parse(l[2])["result"]["call"], "fdb_show()");
  EXPECT_EQ(handler.calls, (std::vector<std::string>{"show", "stats", "fdb_show()"}));
}

TEST_F(ControlServerTest, ServesSeveralClientsAndErrorsDoNotCloseTheConnection) {
  ControlServer server(path, handler, loop);
  Client a(path), b(path);
  a.send("not json\n");
  b.send("{\"cmd\":\"reload\"}\n");
  ASSERT_TRUE(run_until({&a, &b}, [&] { return a.lines().size() == 1 && b.lines().size() == 1; }));
  EXPECT_EQ(json::parse(a.lines()[0])["ok"], false);
  EXPECT_EQ(json::parse(b.lines()[0])["result"]["call"], "reload");
  a.send("{\"cmd\":\"reassembly\"}\n");
  ASSERT_TRUE(run_until({&a}, [&] { return a.lines().size() == 2; }));
  EXPECT_EQ(json::parse(a.lines()[1])["result"]["call"], "reassembly");
  EXPECT_FALSE(a.eof());
}

TEST_F(ControlServerTest, LastRequestWithoutNewlineIsAnsweredAtEof) {
  ControlServer server(path, handler, loop);
  Client c(path);
  c.send("{\"cmd\":\"show\"}");
  c.shutdown_write();
  ASSERT_TRUE(run_until({&c}, [&] { return c.eof(); }));
  ASSERT_EQ(c.lines().size(), 1u);
  EXPECT_EQ(json::parse(c.lines()[0])["result"]["call"], "show");
}

TEST_F(ControlServerTest, OversizedRequestIsRefusedAndTheConnectionClosed) {
  ControlServer server(path, handler, loop);
  Client c(path);
  c.send(std::string(200 * 1024, 'x'));
  ASSERT_TRUE(run_until({&c}, [&] { return c.eof(); }));
  ASSERT_EQ(c.lines().size(), 1u);
  EXPECT_EQ(json::parse(c.lines()[0]),
            (json{{"ok", false}, {"error", "request longer than 65536 bytes"}}));
  EXPECT_TRUE(handler.calls.empty());
}

TEST_F(ControlServerTest, ClosedClientsReleaseTheirDescriptors) {
  ControlServer server(path, handler, loop);
  const int before = open_fd_count();
  {
    Client a(path), b(path);
    a.send("{\"cmd\":\"show\"}\n");
    b.send("{\"cmd\":\"show\"}\n");
    ASSERT_TRUE(run_until({&a, &b}, [&] { return a.lines().size() + b.lines().size() == 2; }));
    // Two client ends here and two server ends in the daemon.
    EXPECT_EQ(open_fd_count(), before + 4);
  }
  EXPECT_TRUE(run_until({}, [&] { return open_fd_count() == before; }));
}

TEST_F(ControlServerTest, StaleSocketIsReplacedAndRemovedOnDestruction) {
  {
    // A socket file whose server is gone, as a crashed daemon leaves it.
    const int s = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    close(s);
  }
  {
    ControlServer server(path, handler, loop);
    Client c(path);
    c.send("{\"cmd\":\"show\"}\n");
    ASSERT_TRUE(run_until({&c}, [&] { return c.lines().size() == 1; }));
  }
  struct stat st {};
  EXPECT_NE(stat(path.c_str(), &st), 0);
}

TEST_F(ControlServerTest, RefusesALiveSocketOrAFileThatIsNotASocket) {
  {
    ControlServer server(path, handler, loop);
    EventLoop other;
    EXPECT_THROW(ControlServer(path, handler, other), std::system_error);
  }
  const std::string plain = dir.file("plain");
  std::ofstream(plain) << "keep me";
  EXPECT_THROW(ControlServer(plain, handler, loop), std::system_error);
  std::ifstream in(plain);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "keep me");
}

}  // namespace
}  // namespace stt::daemon
