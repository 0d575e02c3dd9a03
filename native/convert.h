// Model conversion (quantization) through the engine's convert(), on a worker thread.
#pragma once

#include <napi.h>

namespace diffusekit {

// convert({ input, vae?, output, weightType, tensorTypeRules? }, onLog?, minLogLevel?) -> Promise<void>
Napi::Value ConvertModel(const Napi::CallbackInfo& info);

}  // namespace diffusekit
