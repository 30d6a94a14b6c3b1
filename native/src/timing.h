// Timing of tactic candidates for autotuning. One timing of a few runs swings by tens of percent on a GPU whose clocks
// are still ramping or whose caches hold the previous candidate's data, which made builds pick different tactics
// from one run to the next. Here: warm-up runs, enough back-to-back runs per round that a round lasts well past the
// events' resolution, several rounds, and the median round.
#pragma once

#include "common.h"
#include "kernels/kernels.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace trtn {

// TRTN_AUTOTUNE_LOG=1: each candidate autotuning tried, with its median time or why it was left out, and each layer's
// choice, one "TUNE ..." line each on stderr: what a benchmark log needs to say why a tactic won or never did.
inline bool autotune_log_enabled() {
    static const bool on = env_is("TRTN_AUTOTUNE_LOG", "1");
    return on;
}
inline void autotune_log(const std::string& layer, const std::string& candidate, const std::string& outcome) {
    if (autotune_log_enabled()) std::fprintf(stderr, "TUNE layer=%s candidate=\"%s\" %s\n", layer.c_str(), candidate.c_str(), outcome.c_str());
}
inline std::string ms_text(float ms) {
    char b[32];
    std::snprintf(b, sizeof b, "ms=%.4f", ms);
    return b;
}

// Host wall time since construction, for the autotuning log's build and search times (cold builds of MobileNetV3 and
// EfficientNet take minutes on an H100, and the log did not say where).
class WallClock {
public:
    double ms() const { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count(); }
    std::string ms_text() const {
        char b[32];
        std::snprintf(b, sizeof b, "%.1f ms", ms());
        return b;
    }

private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Two CUDA events for one timing, destroyed even when the timed body throws.
class EventPair {
public:
    EventPair() {
        TRTN_CUDA_CHECK(cudaEventCreate(&start));
        if (cudaEventCreate(&stop) != cudaSuccess) {
            cudaEventDestroy(start);
            fail(TRTN_CUDA_ERROR, "cudaEventCreate failed");
        }
    }
    ~EventPair() {
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
    }
    EventPair(const EventPair&) = delete;
    EventPair& operator=(const EventPair&) = delete;

    // Milliseconds between the events after both were recorded on stream.
    float elapsed() const {
        TRTN_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        TRTN_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        return ms;
    }

    cudaEvent_t start = nullptr, stop = nullptr;
};

// Where candidates are timed: the stream, and with TRTN_TUNE_COLD_L2=1 a scratch buffer of twice the L2 cache that
// each timed run overwrites first. Why: a candidate timed back to back finds its weights in L2, while inside a network
// the layers before it have evicted them; at batch 1 a GEMM's time is mostly that read, so warm-L2 timings can rank
// tactics differently from what the engine then runs (the A/B of that hypothesis: ViT-B/16 at batch 1).
struct TimingStream {
    cudaStream_t stream = nullptr;
    void* flush = nullptr;
    size_t flush_bytes = 0;
};

inline bool cold_l2_timing() {
    static const bool on = env_is("TRTN_TUNE_COLD_L2", "1");
    return on;
}

// A candidate that was timed: an index the caller understands and its median time.
struct TimedCandidate {
    int index = -1;
    float ms = 0;
};

struct TimingOptions {
    int warmup = 3;             // untimed runs first (module load, clocks, caches)
    int rounds = 7;             // timed rounds; the median is kept
    float min_round_ms = 0.25f; // runs per round grow until a round lasts about this long
    int max_runs_per_round = 64;
    float give_up_ms = 0;       // > 0: one run after the warm-up slower than this (and than min_round_ms) is the answer
};

// A candidate whose first timed run takes more than kGiveUpFactor times the fastest candidate's median so far cannot
// be chosen, so its rounds are skipped and that run stands for its time (TRTN_TUNE_GIVE_UP=0: every candidate gets its
// rounds). Only runs longer than a round qualify: a single run of a few microseconds is too noisy to judge, and the
// rounds of short runs cost little; slow candidates (the direct reference kernel at batch 128, for one) cost seven
// more runs each.
constexpr float kGiveUpFactor = 4.f;

inline TimingOptions timing_against(const std::vector<TimedCandidate>& timed) {
    static const bool enabled = !env_is("TRTN_TUNE_GIVE_UP", "0");
    TimingOptions o;
    if (!enabled) return o;
    for (const TimedCandidate& c : timed)
        if (c.ms > 0 && (o.give_up_ms == 0 || kGiveUpFactor * c.ms < o.give_up_ms)) o.give_up_ms = kGiveUpFactor * c.ms;
    return o;
}

// Median time of one run of body (which enqueues work on ts.stream), in milliseconds. With a flush buffer each timed
// run is one run after the L2 cache was overwritten (twice the rounds, each run timed alone).
template <class F>
float median_ms(const TimingStream& ts, F&& body, const TimingOptions& o = {}) {
    cudaStream_t stream = ts.stream;
    EventPair ev;
    for (int i = 0; i < o.warmup; ++i) body();
    if (ts.flush) {
        std::vector<float> single;
        for (int r = 0; r < 2 * o.rounds + 1; ++r) {
            TRTN_CUDA_CHECK(cudaMemsetAsync(ts.flush, r & 0xff, ts.flush_bytes, stream));
            TRTN_CUDA_CHECK(cudaEventRecord(ev.start, stream));
            body();
            TRTN_CUDA_CHECK(cudaEventRecord(ev.stop, stream));
            single.push_back(ev.elapsed());
        }
        std::nth_element(single.begin(), single.begin() + single.size() / 2, single.end());
        return single[single.size() / 2];
    }
    TRTN_CUDA_CHECK(cudaEventRecord(ev.start, stream));
    body();
    TRTN_CUDA_CHECK(cudaEventRecord(ev.stop, stream));
    float one = ev.elapsed();
    if (o.give_up_ms > 0 && one > o.give_up_ms && one > o.min_round_ms) return one;
    int runs = one > 0 ? static_cast<int>(o.min_round_ms / one) + 1 : o.max_runs_per_round;
    runs = std::clamp(runs, 1, o.max_runs_per_round);
    std::vector<float> per_run;
    per_run.reserve(o.rounds);
    for (int r = 0; r < o.rounds; ++r) {
        TRTN_CUDA_CHECK(cudaEventRecord(ev.start, stream));
        for (int i = 0; i < runs; ++i) body();
        TRTN_CUDA_CHECK(cudaEventRecord(ev.stop, stream));
        per_run.push_back(ev.elapsed() / runs);
    }
    std::nth_element(per_run.begin(), per_run.begin() + per_run.size() / 2, per_run.end());
    return per_run[per_run.size() / 2];
}

// The fastest candidate, re-timing the leaders when they are within `margin` of each other (a close call decided by
// one noisy timing is what made builds differ): the best few are timed again with more rounds, the faster kept.
template <class Run>
TimedCandidate pick_fastest(const TimingStream& ts, std::vector<TimedCandidate> timed, Run&& run, float margin = 0.05f) {
    require(!timed.empty(), TRTN_INTERNAL, "pick_fastest: no candidate");
    std::sort(timed.begin(), timed.end(), [](const auto& a, const auto& b) { return a.ms < b.ms; });
    size_t close = 1;
    while (close < timed.size() && close < 4 && timed[close].ms <= timed[0].ms * (1 + margin)) ++close;
    if (close == 1) return timed[0];
    TimingOptions careful;
    careful.rounds = 15;
    careful.min_round_ms = 1.0f;
    TimedCandidate best;
    for (size_t i = 0; i < close; ++i) {
        float ms = median_ms(ts, [&] { run(timed[i].index); }, careful);
        if (best.index < 0 || ms < best.ms) best = {timed[i].index, ms};
    }
    return best;
}

// The output a layer's autotuning checks every candidate against, in device memory freed however autotuning ends.
// Each candidate runs over a poisoned output (all bits set: NaN in every float type), so one that leaves anything
// unwritten cannot pass for the reference.
class ReferenceOutput {
public:
    ReferenceOutput(int32_t dtype, int64_t count) : dtype_(dtype), count_(count), bytes_(static_cast<size_t>(count) * dtype_size(dtype)) {
        TRTN_CUDA_CHECK(cudaMalloc(&data_, bytes_));
    }
    ~ReferenceOutput() { cudaFree(data_); }
    ReferenceOutput(const ReferenceOutput&) = delete;
    ReferenceOutput& operator=(const ReferenceOutput&) = delete;

    // Runs the reference implementation with the layer's output address `out` pointing here, and puts the address
    // back however the run ends.
    template <class F>
    void record(void*& out, F&& run) {
        struct Restore {
            void*& slot;
            void* value;
            ~Restore() { slot = value; }
        } restore{out, out};
        out = data_;
        run();
    }

    void poison(void* out, cudaStream_t s) const { TRTN_CUDA_CHECK(cudaMemsetAsync(out, 0xFF, bytes_, s)); }

    // rel L2 of a candidate's output against the reference (synchronizes s); NaN where anything is unwritten.
    double error(const void* out, cudaStream_t s) const { return kernels::relative_l2(dtype_, out, data_, count_, s); }

    // Whether that error is close enough: reduced types accumulate in other orders, and bf16 keeps 8 significant bits.
    bool agrees(double err) const { return err <= (dtype_ == TRTN_FLOAT16 ? 2e-2 : dtype_ == TRTN_BFLOAT16 ? 5e-2 : 1e-4); }

private:
    int32_t dtype_;
    int64_t count_;
    size_t bytes_;
    void* data_ = nullptr;
};

}  // namespace trtn
