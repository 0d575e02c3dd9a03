// ggml's compute backends as the addon sees them: in a portable build (DIFFUSEKIT_DYNAMIC_BACKENDS) the CPU
// variants and GPU backends are loadable modules that src/engine/backends.ts scores, picks and loads; in a
// build from source they are linked in. Either way the registry answers what was found.
#pragma once

#include <napi.h>

namespace diffusekit {

// probeBackend(path) -> score: what the module's own feature check says of this machine (0: it cannot run
// here). Throws with the loader's message when the file is missing or not a loadable library.
Napi::Value ProbeBackend(const Napi::CallbackInfo& info);

// loadBackend(path) -> { name, devices }: registers the module with ggml. Throws when it does not load.
Napi::Value LoadBackend(const Napi::CallbackInfo& info);

// backendDevices() -> [{ name, description, type, backend, memoryFree, memoryTotal }] of every registered device.
Napi::Value BackendDevices(const Napi::CallbackInfo& info);

// The CPU backend's features ("AVX2", "AVX512", ...) and our kernels' state, through its proc table, which
// works whether the backend is linked in or loaded as a module.
Napi::Object CpuBackendInfo(Napi::Env env);

}  // namespace diffusekit
