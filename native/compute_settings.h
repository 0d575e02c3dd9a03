// What a context's load options ask of the engine's graph computes, for every job of that context: bound to
// the job's worker thread for its duration (ScopedJob, native/engine_callbacks.cc).
#pragma once

namespace diffusekit {

struct ComputeSettings {
    bool cpu_bf16  = false;  // CPU products may round to bf16 (cpuPrecision 'auto'); false: f32 throughout
    bool cfg_batch = false;  // both guidance passes of a UNet step as one batch of 2 (batchCfg)
};

}  // namespace diffusekit
