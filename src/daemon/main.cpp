// sttd: the STT tunnel endpoint. `sttd -c FILE [--log-level L]`.
//
// Exit status: 0 after SIGTERM/SIGINT, 2 for an invalid config or command
// line (nothing was created), 1 when setting up or running failed.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <map>
#include <string>

#include "core/version.hpp"
#include "daemon/config.hpp"
#include "daemon/daemon.hpp"
#include "daemon/host_check.hpp"
#include "linux/privileges.hpp"

int main(int argc, char** argv) {
  using namespace stt;
  CLI::App app{"sttd: STT (Stateless Transport Tunneling) endpoint over TAP devices", "sttd"};
  std::string config_path;
  std::string log_level = "info";
  std::string tx_form = "gso";
  bool check_only = false;
  unsigned busy_poll_us = 0;
  app.add_option("-c,--config", config_path, "TOML configuration file")->required();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--tx-form", tx_form,
                 "gso: one GSO super-segment per STT frame, cut by the kernel or NIC; "
                 "segmented: cut in userspace (for tests and benchmarks)")
      ->check(CLI::IsMember({"gso", "segmented"}));
  app.add_option("--busy-poll-us", busy_poll_us,
                 "after handling traffic, keep polling for up to this many microseconds "
                 "before sleeping (0: never)")
      ->check(CLI::Range(0u, 100000u));
  app.add_flag("--check", check_only,
               "validate the config file against this host and exit: 0 when valid, 2 with "
               "FILE:LINE: KEY: problem when not (like sshd -t)");
  app.set_version_flag("--version", core::version());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  // On a terminal: timestamps and colour. Otherwise (journald, a pipe, a
  // file) neither: journald stamps each line itself and shows escape codes
  // as they are.
  if (isatty(STDERR_FILENO)) {
    spdlog::set_default_logger(spdlog::stderr_color_mt("sttd"));
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e sttd %^%l%$: %v");
  } else {
    spdlog::set_default_logger(spdlog::stderr_logger_mt("sttd"));
    spdlog::set_pattern("%l: %v");
  }
  spdlog::set_level(spdlog::level::from_str(log_level));

  daemon::Config cfg;
  try {
    cfg = daemon::load_config(config_path);
    daemon::check_host(cfg);
  } catch (const daemon::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  if (check_only) {
    std::printf("%s: OK\n", config_path.c_str());
    return 0;
  }

  std::string nets;
  for (const auto& n : cfg.networks) {
    nets += (nets.empty() ? "" : ", ") + n.name + " (context ID " + std::to_string(n.context_id) +
            ", TAP " + n.tap + ")";
  }
  spdlog::info("sttd {} starting: config {}, underlay {} {} port {}, networks: {}", core::version(),
               config_path, cfg.underlay_interface, cfg.local.to_string(), cfg.port, nets);

  try {
    daemon::Daemon::block_stop_signals();
    daemon::DaemonOptions opt;
    opt.tx_form = tx_form == "segmented" ? core::TxForm::kSegmented : core::TxForm::kGso;
    opt.busy_poll_us = busy_poll_us;
    daemon::Daemon d(cfg, opt);
    // Everything that needs more than the network capabilities is done.
    const std::string note = sys::keep_only_net_capabilities();
    if (!note.empty()) spdlog::warn("{}", note);
    spdlog::info("capabilities: kept CAP_NET_ADMIN and CAP_NET_RAW, dropped the rest");
    d.run();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  spdlog::info("stopped; TAPs, firewall table and control socket removed");
  return 0;
}
