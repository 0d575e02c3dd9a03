# node-gyp entry point for tools that drive node-gyp (prebuildify, electron-rebuild, `node-gyp rebuild`).
# The real build is cmake-js (CMakeLists.txt): this target only runs scripts/build.mjs, which resolves the
# pinned engine source and compiles engine + addon into build/Release/diffusekit.node.
{
  "targets": [
    {
      "target_name": "diffusekit_cmake",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_js_build",
          "inputs": ["CMakeLists.txt"],
          "outputs": ["build/Release/diffusekit.node"],
          "action": ["node", "<(module_root_dir)/scripts/build.mjs"]
        }
      ]
    }
  ]
}
