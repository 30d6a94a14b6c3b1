// A 2-D convolution as a cuDNN operation graph (graph API, through the vendored cudnn-frontend), optionally with
// its bias add, residual add and activation fused into the same graph so that one kernel writes the final output.
// cuDNN's heuristics (modes A, B and fallback) list the engine configurations for the graph; the conv layer times
// them against its other tactics. The frontend stays inside conv_graph.cpp: this header only needs cuDNN's handle.
#pragma once

#include "engine.h"

#include <cudnn.h>

#include <memory>
#include <string>
#include <vector>

namespace trtn {

// Tactic values of graph-API configurations: bit 30 marks a graph tactic, bit 29 a fused epilogue, and the low 29
// bits hold a hash of the engine configuration's name (engine id and knob values), stable across runs of one cuDNN
// version. Legacy cuDNN algorithms are 0..7 and the direct kernel 1000, so the ranges never meet.
constexpr int32_t kTacticGraphBit = 1 << 30;
constexpr int32_t kTacticGraphFusedBit = 1 << 29;
inline bool is_graph_tactic(int32_t tactic) { return tactic >= 0 && (tactic & kTacticGraphBit) != 0; }
inline bool is_fused_graph_tactic(int32_t tactic) { return is_graph_tactic(tactic) && (tactic & kTacticGraphFusedBit) != 0; }
int32_t graph_tactic(bool fused, const std::string& config_name);

// TRTN_CONV_GRAPH=0 turns the graph API off (A/B comparisons against the legacy API); TRTN_CONV_GRAPH=force makes a
// stored graph tactic that cannot be built an error instead of a fallback (the self-test uses it to know that the
// graph path is what ran).
bool conv_graph_enabled();
bool conv_graph_forced();

struct ConvGraphShape {
    int64_t n, c, h, w;        // input (NHWC in memory)
    int64_t k, r, s;           // filters [K, R, S, C/groups]
    int64_t p, q;              // output spatial dims
    int32_t dtype;             // TRTN_FLOAT32 or TRTN_FLOAT16 for input, filters, residual and output
    bool has_bias, has_residual;
    bool fused;                // bias, residual and activation inside the graph
    bool operator==(const ConvGraphShape& o) const;
};

class ConvGraph {
public:
    // Builds the operation graph and asks cuDNN's heuristics for configurations that keep the engine's numerics:
    // fp32 without tensor cores (no TF32) and no down-conversion, fp16 with fp32 accumulation, and only
    // deterministic engines (a loaded plan must reproduce the original's outputs bit for bit). Configurations
    // needing more than ws_limit bytes are left out. Throws Error(TRTN_UNSUPPORTED) when none remains.
    ConvGraph(cudnnHandle_t handle, const trtn_conv_params& p, const ConvGraphShape& shape, size_t ws_limit);
    ~ConvGraph();
    ConvGraph(const ConvGraph&) = delete;
    ConvGraph& operator=(const ConvGraph&) = delete;

    // Whether the activation can be expressed inside a cuDNN graph (otherwise fuse only bias and residual).
    static bool can_fuse(const trtn_activation& act);

    const ConvGraphShape& shape() const;
    // Candidate configurations in heuristics order, duplicates removed.
    size_t candidate_count() const;
    const std::string& candidate_name(size_t i) const;
    int32_t candidate_tactic(size_t i) const;
    // Whether cuDNN compiles candidate i's kernel at plan build (runtime fusion: slow to build, often fast to run).
    bool runtime_compiled(size_t i) const;
    // Index of the candidate with this tactic, or -1.
    int64_t find(int32_t tactic) const;
    // Builds candidate i's execution plan (once; later calls reuse it). false when cuDNN cannot build it here.
    bool build(size_t i);
    // cuDNN's message for the last build() that failed (empty if none did): shown when no candidate builds.
    const std::string& last_build_error() const;
    // Scratch bytes of candidate i (built).
    size_t workspace(size_t i) const;
    // Enqueues candidate i (built) on the handle's stream.
    void run(cudnnHandle_t handle, size_t i, const void* x, const void* w, const float* bias, const void* residual,
             void* y, void* workspace);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace trtn
