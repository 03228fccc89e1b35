#pragma once

namespace stt::core {

// The project version, as printed by `sttd --version` and `sttctl --version`.
const char* version();

}  // namespace stt::core
