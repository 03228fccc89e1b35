#pragma once
// A real single-member etcd (Debian's etcd-server) for tests: on 127.0.0.1 with free ports and a
// temporary data dir, killed and removed when the object goes (also when a test fails).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "cluster/etcd_client.hpp"

namespace stt::test {

inline int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(s);
    throw std::runtime_error("no free port");
  }
  ::close(s);
  return ntohs(a.sin_port);
}

class EtcdServer {
 public:
  // With tls: a CA, a server certificate for 127.0.0.1 and a client certificate (CN host-a)
  // are made with openssl in the data dir, and etcd requires client certificates.
  explicit EtcdServer(bool tls = false) : tls_(tls) {
    char tmpl[] = "/tmp/stt-etcd-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    client_port_ = free_port();
    peer_port_ = free_port();
    if (tls_) make_certificates();
    start();
  }
  ~EtcdServer() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  std::string endpoint() const {
    return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(client_port_);
  }
  // Client options that reach this member (with the client certificate when TLS is on).
  cluster::EtcdOptions options() const {
    cluster::EtcdOptions o{{endpoint()}, {}, {}, {}, {}, {}, std::chrono::milliseconds(2000)};
    if (tls_) {
      o.tls_ca = dir_ + "/ca.pem";
      o.tls_cert = dir_ + "/client.pem";
      o.tls_key = dir_ + "/client.key";
    }
    return o;
  }
  const std::string& dir() const { return dir_; }

  // Starts etcd (again, on the same ports and data) and waits, bounded, until it answers.
  void start() {
    std::string client = endpoint();
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string log = dir_ + "/etcd.log";
      FILE* f = std::freopen(log.c_str(), "a", stdout);
      (void)f;
      ::dup2(STDOUT_FILENO, STDERR_FILENO);
      std::string cluster = "t=" + peer;
      std::string data = dir_ + "/data";
      std::string cert = dir_ + "/server.pem", key = dir_ + "/server.key", ca = dir_ + "/ca.pem";
      if (tls_) {
        ::execlp("etcd", "etcd", "--name", "t", "--data-dir", data.c_str(), "--listen-client-urls",
                 client.c_str(), "--advertise-client-urls", client.c_str(), "--listen-peer-urls",
                 peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster",
                 cluster.c_str(), "--log-level", "warn", "--cert-file", cert.c_str(), "--key-file",
                 key.c_str(), "--trusted-ca-file", ca.c_str(), "--client-cert-auth",
                 static_cast<char*>(nullptr));
      } else {
        ::execlp("etcd", "etcd", "--name", "t", "--data-dir", data.c_str(), "--listen-client-urls",
                 client.c_str(), "--advertise-client-urls", client.c_str(), "--listen-peer-urls",
                 peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster",
                 cluster.c_str(), "--log-level", "warn", static_cast<char*>(nullptr));
      }
      ::_exit(127);
    }
    cluster::EtcdOptions o = options();
    o.timeout = std::chrono::milliseconds(500);
    cluster::EtcdClient c(o);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      cluster::RangeResult r;
      if (c.connect().ok() && c.range("probe", {}, r).ok()) return;
      int st;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("etcd exited at start; see " + dir_ + "/etcd.log");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("etcd did not answer within 30 s");
  }

  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // etcdctl against this member; returns its exit status.
  int etcdctl(const std::string& args) const {
    std::string tls;
    if (tls_)
      tls = " --cacert=" + dir_ + "/ca.pem --cert=" + dir_ + "/client.pem --key=" + dir_ +
            "/client.key";
    std::string cmd = "ETCDCTL_API=3 etcdctl --endpoints=" + endpoint() + tls + " " + args + " >>" +
                      dir_ + "/etcdctl.log 2>&1";
    return std::system(cmd.c_str());
  }

 private:
  void sh(const std::string& cmd) const {
    std::string full = "cd " + dir_ + " && (" + cmd + ") >>openssl.log 2>&1";
    if (std::system(full.c_str()) != 0)
      throw std::runtime_error("failed: " + cmd + " (see " + dir_ + "/openssl.log)");
  }
  void make_certificates() const {
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=stt-test-ca "
       "-keyout ca.key -out ca.pem");
    sh("printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' "
       ">server.ext && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
       "-keyout server.key -out server.csr && openssl x509 -req -in server.csr -CA ca.pem "
       "-CAkey ca.key -CAcreateserial -days 1 -extfile server.ext -out server.pem");
    sh("printf 'extendedKeyUsage=clientAuth\\n' >client.ext && openssl req -newkey rsa:2048 "
       "-nodes -subj /CN=host-a -keyout client.key -out client.csr && openssl x509 -req "
       "-in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile client.ext "
       "-out client.pem");
  }

  bool tls_ = false;

  std::string dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace stt::test
