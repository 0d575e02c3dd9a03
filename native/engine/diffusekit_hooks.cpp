#include "diffusekit_hooks.h"

#include <condition_variable>
#include <mutex>

namespace {

thread_local const std::atomic<bool>* bound_abort_flag = nullptr;
thread_local const std::atomic<bool>* bound_armed_flag = nullptr;
thread_local bool computing                             = false;
thread_local std::vector<DiffusekitLatent> recorded_latents;
thread_local const char* bound_main_device        = nullptr;
thread_local bool bound_cpu_bf16                        = false;  // unbound: f32
thread_local bool bound_cfg_batch                       = false;  // unbound: the engine's two passes
std::atomic<uint64_t> cfg_batches{0};

// Marks the calling thread as inside a graph compute for the scope's lifetime.
struct ComputeScope {
    ComputeScope() { computing = true; }
    ~ComputeScope() { computing = false; }
};

bool abort_requested(void* data) {
    return static_cast<const std::atomic<bool>*>(data)->load(std::memory_order_relaxed);
}

// The registry of a backend's device (the CPU backend may be a loadable module: its extras are found there),
// or nullptr; only a CPU device's when `cpu_only`.
ggml_backend_reg_t backend_reg_of(ggml_backend_t backend, bool cpu_only) {
    ggml_backend_dev_t dev = ggml_backend_get_device(backend);
    if (dev == nullptr || (cpu_only && ggml_backend_dev_type(dev) != GGML_BACKEND_DEVICE_TYPE_CPU)) {
        return nullptr;
    }
    return ggml_backend_dev_backend_reg(dev);
}

// The CPU backend exposes its abort callback through the registry.
ggml_backend_set_abort_callback_t abort_setter_for(ggml_backend_t backend) {
    ggml_backend_reg_t reg = backend_reg_of(backend, false);
    if (reg == nullptr) {
        return nullptr;
    }
    return reinterpret_cast<ggml_backend_set_abort_callback_t>(
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_abort_callback"));
}

// CPU computes hold the gate for their duration: any number with one bf16 setting at a time, the first of a
// new setting switching the backend once the others have finished.
class PrecisionGate {
   public:
    PrecisionGate(ggml_backend_t backend, bool bf16) {
        ggml_backend_reg_t reg = backend_reg_of(backend, true);
        auto set = reg == nullptr ? nullptr
                                  : reinterpret_cast<void (*)(bool)>(ggml_backend_reg_get_proc_address(reg, "diffusekit_cpu_set_bf16"));
        if (set == nullptr) {
            return;
        }
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return users_ == 0 || setting_ == bf16; });
        if (users_ == 0 && setting_ != bf16) {
            set(bf16);
            setting_ = bf16;
        }
        ++users_;
        held_ = true;
    }
    ~PrecisionGate() {
        if (!held_) {
            return;
        }
        std::lock_guard<std::mutex> lock(mutex_);
        if (--users_ == 0) {
            changed_.notify_all();
        }
    }
    PrecisionGate(const PrecisionGate&)            = delete;
    PrecisionGate& operator=(const PrecisionGate&) = delete;

   private:
    bool held_ = false;
    static inline std::mutex mutex_;
    static inline std::condition_variable changed_;
    static inline int users_      = 0;
    static inline bool setting_   = false;  // the CPU backend's own default
};

}  // namespace

void diffusekit_bind_cpu_bf16(bool allowed) {
    bound_cpu_bf16 = allowed;
}

void diffusekit_bind_cfg_batch(bool allowed) {
    bound_cfg_batch = allowed;
}

bool diffusekit_cfg_batch_allowed() {
    return bound_cfg_batch;
}

void diffusekit_count_cfg_batch() {
    cfg_batches.fetch_add(1, std::memory_order_relaxed);
}

uint64_t diffusekit_cfg_batch_count() {
    return cfg_batches.load(std::memory_order_relaxed);
}

void diffusekit_bind_abort_flag(const std::atomic<bool>* requested, const std::atomic<bool>* armed) {
    bound_abort_flag = requested;
    bound_armed_flag = armed;
}

bool diffusekit_in_graph_compute() {
    return computing;
}

ggml_status diffusekit_graph_compute(ggml_backend_t backend, ggml_cgraph* graph) {
    ComputeScope scope;
    PrecisionGate precision(backend, bound_cpu_bf16);
    const std::atomic<bool>* flag = bound_abort_flag;
    if (flag == nullptr || (bound_armed_flag != nullptr && !bound_armed_flag->load())) {
        return ggml_backend_graph_compute(backend, graph);
    }
    if (flag->load(std::memory_order_relaxed)) {
        return GGML_STATUS_ABORTED;
    }
    ggml_backend_set_abort_callback_t set_abort = abort_setter_for(backend);
    if (set_abort != nullptr) {
        set_abort(backend, abort_requested, const_cast<std::atomic<bool>*>(flag));
    }
    ggml_status status = ggml_backend_graph_compute(backend, graph);
    if (set_abort != nullptr) {
        set_abort(backend, nullptr, nullptr);
    }
    if (status == GGML_STATUS_SUCCESS && flag->load(std::memory_order_relaxed)) {
        // Backends without an abort callback finish the graph; report the abort all the same.
        return GGML_STATUS_ABORTED;
    }
    return status;
}

void diffusekit_record_latent(const float* data, const std::vector<int64_t>& shape) {
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    recorded_latents.push_back({shape, std::vector<float>(data, data + count)});
}

std::vector<DiffusekitLatent> diffusekit_take_latents() {
    std::vector<DiffusekitLatent> out;
    out.swap(recorded_latents);
    return out;
}

void diffusekit_bind_main_device(const char* device) {
    bound_main_device = device;
}

const char* diffusekit_main_device() {
    return bound_main_device;
}
