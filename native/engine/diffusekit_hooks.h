// diffusekit's hook into the engine, placed by patches/engine-abort.patch.
// The engine has no cancellation entry point, so every graph compute passes through here.
#pragma once

#include <atomic>

#include "ggml-backend.h"

// Binds an abort flag to the calling thread; graph computes on this thread stop once it is set.
// Pass nullptr to unbind. The flag must outlive the binding.
void diffusekit_bind_abort_flag(const std::atomic<bool>* flag);

// ggml_backend_graph_compute that honours the calling thread's abort flag: it refuses to start when the
// flag is already set and, on backends with an abort callback (CPU), stops between graph nodes.
ggml_status diffusekit_graph_compute(ggml_backend_t backend, ggml_cgraph* graph);
