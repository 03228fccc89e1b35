#pragma once
// The checks of a Config against this host, done before anything is
// created (sttd and `sttd --check`): the underlay interface exists in this
// network namespace and `local` is one of its addresses. A failure throws
// ConfigError "FILE:LINE: KEY: problem", like the file's own checks.

#include "daemon/config.hpp"

namespace stt::daemon {

void check_host(const Config& cfg);

}  // namespace stt::daemon
