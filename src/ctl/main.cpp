// sttctl: the operator's CLI. Offline pcap tools (encap, decap) and, from
// src/ctl/runtime.cpp, runtime control of a running sttd.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "core/version.hpp"
#include "ctl/offline.hpp"
#include "ctl/runtime.hpp"

int main(int argc, char** argv) {
  CLI::App app{"sttctl: control sttd and work with STT captures"};
  app.set_version_flag("--version", std::string("sttctl ") + stt::core::version());

  stt::ctl::register_offline_commands(app);
  stt::ctl::register_runtime_commands(app);

  CLI11_PARSE(app, argc, argv);
  if (app.get_subcommands().empty()) {
    std::fprintf(stderr, "sttctl: a command is required\nRun with --help for more information.\n");
    return 2;
  }
  return 0;
}
