// JPEG decoding over nvJPEG (trtn_jpeg_decoder_*).
//
// nvJPEG is loaded with dlopen when the first decoder is created, not linked: a machine without libnvjpeg still loads
// libtrtnative (and runs engines); only the decoder reports that nvJPEG is missing. The build needs nvjpeg.h only
// (TRTN_WITH_NVJPEG); without it the exports say this build has no nvJPEG.
//
// Per batch: every file's header is read (nvjpegGetImageInfo); files the hardware decoder accepts
// (nvjpegDecodeBatchedSupported) are decoded in one nvjpegDecodeBatched call on the hardware backend, the others in
// one on the CUDA backend. A batched call fails as a whole when one file is bad, so after a failed batched call its
// files are decoded one by one (nvjpegDecode): only the files nvJPEG refuses fail, each with its own status.
#include "common.h"

#if defined(TRTN_WITH_NVJPEG)

#include <dlfcn.h>
#include <nvjpeg.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

namespace {

using trtn::env_is;
using trtn::fail;
using trtn::require;

// The nvJPEG entry points used here, resolved once from the shared library.
struct NvJpeg {
    decltype(&nvjpegCreateEx) createEx = nullptr;
    decltype(&nvjpegDestroy) destroy = nullptr;
    decltype(&nvjpegJpegStateCreate) stateCreate = nullptr;
    decltype(&nvjpegJpegStateDestroy) stateDestroy = nullptr;
    decltype(&nvjpegGetImageInfo) getImageInfo = nullptr;
    decltype(&nvjpegDecode) decode = nullptr;
    decltype(&nvjpegDecodeBatchedInitialize) batchedInitialize = nullptr;
    decltype(&nvjpegDecodeBatched) batched = nullptr;
    decltype(&nvjpegJpegStreamCreate) streamCreate = nullptr;
    decltype(&nvjpegJpegStreamDestroy) streamDestroy = nullptr;
    decltype(&nvjpegJpegStreamParse) streamParse = nullptr;
    decltype(&nvjpegDecodeBatchedSupported) batchedSupported = nullptr;
    decltype(&nvjpegJpegStreamParseHeader) streamParseHeader = nullptr;  // optional: nvjpegJpegStreamParse stands in
    decltype(&nvjpegDecodeBatchedPreAllocate) batchedPreAllocate = nullptr;  // optional: without it nothing is pre-allocated
    std::string error;  // why loading failed (empty when loaded)
};

const NvJpeg& nvjpeg() {
    static NvJpeg lib;
    static std::once_flag once;
    std::call_once(once, [] {
        const char* names[] = {"libnvjpeg.so", "libnvjpeg.so.13", "libnvjpeg.so.12", "libnvjpeg.so.11"};
        void* h = nullptr;
        for (const char* n : names)
            if ((h = dlopen(n, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
        if (!h) {
            const char* e = dlerror();
            lib.error = std::string("nvJPEG is not installed (dlopen of libnvjpeg.so, .so.13, .so.12, .so.11 failed: ") + (e ? e : "?") + ")";
            return;
        }
        bool ok = true;
        auto sym = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
            if (!fn && ok) {
                ok = false;
                lib.error = std::string("libnvjpeg lacks ") + name;
            }
        };
        sym(lib.createEx, "nvjpegCreateEx");
        sym(lib.destroy, "nvjpegDestroy");
        sym(lib.stateCreate, "nvjpegJpegStateCreate");
        sym(lib.stateDestroy, "nvjpegJpegStateDestroy");
        sym(lib.getImageInfo, "nvjpegGetImageInfo");
        sym(lib.decode, "nvjpegDecode");
        sym(lib.batchedInitialize, "nvjpegDecodeBatchedInitialize");
        sym(lib.batched, "nvjpegDecodeBatched");
        sym(lib.streamCreate, "nvjpegJpegStreamCreate");
        sym(lib.streamDestroy, "nvjpegJpegStreamDestroy");
        sym(lib.streamParse, "nvjpegJpegStreamParse");
        sym(lib.batchedSupported, "nvjpegDecodeBatchedSupported");
        // The hardware check needs the header only; nvjpegJpegStreamParse also walks the whole entropy-coded data, on
        // the batching thread, for every file of every batch.
        lib.streamParseHeader = reinterpret_cast<decltype(lib.streamParseHeader)>(dlsym(h, "nvjpegJpegStreamParseHeader"));
        lib.batchedPreAllocate = reinterpret_cast<decltype(lib.batchedPreAllocate)>(dlsym(h, "nvjpegDecodeBatchedPreAllocate"));
        if (!ok) lib.createEx = nullptr;  // the handle stays open: process lifetime, like a linked library
    });
    return lib;
}

const char* status_name(nvjpegStatus_t s) {
    switch (s) {
        case NVJPEG_STATUS_SUCCESS: return "NVJPEG_STATUS_SUCCESS";
        case NVJPEG_STATUS_NOT_INITIALIZED: return "NVJPEG_STATUS_NOT_INITIALIZED";
        case NVJPEG_STATUS_INVALID_PARAMETER: return "NVJPEG_STATUS_INVALID_PARAMETER";
        case NVJPEG_STATUS_BAD_JPEG: return "NVJPEG_STATUS_BAD_JPEG";
        case NVJPEG_STATUS_JPEG_NOT_SUPPORTED: return "NVJPEG_STATUS_JPEG_NOT_SUPPORTED";
        case NVJPEG_STATUS_ALLOCATOR_FAILURE: return "NVJPEG_STATUS_ALLOCATOR_FAILURE";
        case NVJPEG_STATUS_EXECUTION_FAILED: return "NVJPEG_STATUS_EXECUTION_FAILED";
        case NVJPEG_STATUS_ARCH_MISMATCH: return "NVJPEG_STATUS_ARCH_MISMATCH";
        case NVJPEG_STATUS_INTERNAL_ERROR: return "NVJPEG_STATUS_INTERNAL_ERROR";
        case NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED: return "NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED";
        case NVJPEG_STATUS_INCOMPLETE_BITSTREAM: return "NVJPEG_STATUS_INCOMPLETE_BITSTREAM";
        default: return "unknown nvjpegStatus_t";
    }
}

void check(nvjpegStatus_t s, const char* call) {
    if (s != NVJPEG_STATUS_SUCCESS)
        fail(s == NVJPEG_STATUS_ALLOCATOR_FAILURE ? TRTN_OUT_OF_MEMORY : TRTN_CUDA_ERROR,
             std::string(call) + " failed: " + status_name(s) + " (" + std::to_string((int)s) + ")");
}

// A file nvJPEG refuses: unreadable data is an invalid argument, anything else something nvJPEG does not support.
int32_t image_code(nvjpegStatus_t s) {
    return s == NVJPEG_STATUS_BAD_JPEG || s == NVJPEG_STATUS_INCOMPLETE_BITSTREAM || s == NVJPEG_STATUS_INVALID_PARAMETER
               ? TRTN_INVALID_ARGUMENT : TRTN_UNSUPPORTED;
}

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// A bad file fails the batched call it is in, but so would something the hardware path cannot do at all on this
// machine (an output format, a driver): after this many hardware batches in a row that failed although each of their
// files then decoded alone, the CUDA backend takes everything.
constexpr int kMaxHwFailures = 3;

// NVJPEG_FLAGS_UPSAMPLING_WITH_INTERPOLATION (nvJPEG 12.1+; absent from older headers, hence the literal). Without
// it nvJPEG, the hardware decoder included, upsamples 4:2:0/4:2:2 chroma by replication, while the CPU path
// (SkiaSharp's libjpeg-turbo) interpolates ("fancy upsampling"): on the first H200 run photos differed from the CPU
// path by 2-4.7 levels on average in RGB while luma alone (bw, grey JPEGs) matched to 0.005.
constexpr unsigned int kUpsampleWithInterpolation = 1u << 5;

// TRTN_JPEG_PREALLOCATE=1 (an A/B, off until measured on a GPU): before its first batch the hardware decoder's batched
// state gets buffers for max_batch images as large as that batch's largest, for any chroma subsampling
// (nvjpegDecodeBatchedPreAllocate). nvJPEG documents that, without it, batches of varying sizes are slowed by the
// library freeing and allocating device memory; a server's batch size changes from one batch to the next, and each
// change re-initialises the state. Next to a running engine (session 23, H100), the host's part of the batched call
// doubled (0.62 to 1.21 ms) at batch sizes cycling through 12-28, where a fixed batch of 16 grew by 0.13 ms. DALI and
// nvImageCodec pre-allocate so. Larger images later make nvJPEG grow its buffers itself.
bool preallocate_hardware_state() {
    static const bool on = env_is("TRTN_JPEG_PREALLOCATE", "1");
    return on;
}

// A handle on `backend` that interpolates chroma; an nvJPEG older than 12.1 may refuse the flag, and then gets a
// handle without it (its colour output differs from the CPU path's as described above).
nvjpegStatus_t create_handle(const NvJpeg& nj, nvjpegBackend_t backend, nvjpegHandle_t* handle) {
    if (nj.createEx(backend, nullptr, nullptr, kUpsampleWithInterpolation, handle) == NVJPEG_STATUS_SUCCESS) return NVJPEG_STATUS_SUCCESS;
    *handle = nullptr;
    return nj.createEx(backend, nullptr, nullptr, 0, handle);
}

}  // namespace

struct trtn_jpeg_decoder {
    int device = 0;
    int max_batch = 0;
    nvjpegHandle_t cuda = nullptr;            // CUDA backend: every JPEG nvJPEG decodes
    nvjpegJpegState_t cuda_batch = nullptr;
    nvjpegJpegState_t cuda_single = nullptr;  // one-by-one decoding after a failed batched call
    nvjpegHandle_t hw = nullptr;              // hardware backend, where the GPU has one
    nvjpegJpegState_t hw_batch = nullptr;
    nvjpegJpegStream_t hw_parsed = nullptr;   // a parsed header, for nvjpegDecodeBatchedSupported
    int cuda_batch_size = 0, hw_batch_size = 0;  // batch size the batched state was initialised for (0: re-initialise)
    bool use_hw = true;
    int hw_failures = 0;                      // consecutive failed hardware batches; at kMaxHwFailures the hardware is left
    bool hw_preallocated = false;             // the hardware state's buffers were pre-allocated (or that was tried)
    uint8_t* arena = nullptr;                 // the decoded images, one after another
    size_t arena_bytes = 0;

    ~trtn_jpeg_decoder() {
        const NvJpeg& nj = nvjpeg();
        if (hw_parsed) nj.streamDestroy(hw_parsed);
        if (hw_batch) nj.stateDestroy(hw_batch);
        if (hw) nj.destroy(hw);
        if (cuda_single) nj.stateDestroy(cuda_single);
        if (cuda_batch) nj.stateDestroy(cuda_batch);
        if (cuda) nj.destroy(cuda);
        if (arena) cudaFree(arena);
    }
};

namespace {

// Reads a file's header into `parsed` (enough for nvjpegDecodeBatchedSupported).
nvjpegStatus_t parse_header(const NvJpeg& nj, nvjpegHandle_t handle, const void* data, uint64_t size, nvjpegJpegStream_t parsed) {
    auto bytes = static_cast<const unsigned char*>(data);
    return nj.streamParseHeader ? nj.streamParseHeader(handle, bytes, (size_t)size, parsed) : nj.streamParse(handle, bytes, (size_t)size, 0, 0, parsed);
}

// One batched call on `handle`; false when nvJPEG refused the batch (then nothing of it can be trusted).
bool decode_batched(const NvJpeg& nj, nvjpegHandle_t handle, nvjpegJpegState_t state, int& initialized_for,
                    const std::vector<int>& group, const void* const* data, const uint64_t* sizes,
                    std::vector<nvjpegImage_t>& dest, cudaStream_t stream) {
    int n = (int)group.size();
    if (n == 0) return true;
    if (initialized_for != n) {
        if (nj.batchedInitialize(handle, state, n, 1, NVJPEG_OUTPUT_RGBI) != NVJPEG_STATUS_SUCCESS) {
            initialized_for = 0;
            return false;
        }
        initialized_for = n;
    }
    std::vector<const unsigned char*> ptrs(n);
    std::vector<size_t> lengths(n);
    std::vector<nvjpegImage_t> out(n);
    for (int k = 0; k < n; ++k) {
        ptrs[k] = static_cast<const unsigned char*>(data[group[k]]);
        lengths[k] = (size_t)sizes[group[k]];
        out[k] = dest[group[k]];
    }
    if (nj.batched(handle, state, ptrs.data(), lengths.data(), out.data(), stream) != NVJPEG_STATUS_SUCCESS) {
        initialized_for = 0;  // "also use to reset failed batches": initialise again next time
        return false;
    }
    return true;
}

}  // namespace

extern "C" {

TRTN_API trtn_status* trtn_jpeg_decoder_create(int32_t device, int32_t max_batch, trtn_jpeg_decoder** out) {
    return trtn::guard("trtn_jpeg_decoder_create", [&] {
        require(out != nullptr, TRTN_INVALID_ARGUMENT, "out is null");
        *out = nullptr;
        require(max_batch >= 1, TRTN_INVALID_ARGUMENT, "max_batch " + std::to_string(max_batch) + " must be >= 1");
        int count = 0;
        cudaError_t e = cudaGetDeviceCount(&count);
        if (e != cudaSuccess || count == 0)
            fail(TRTN_NO_DEVICE, std::string("no CUDA device: ") + (e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0"));
        require(device >= 0 && device < count, TRTN_INVALID_ARGUMENT, "device " + std::to_string(device) + " out of range");
        const NvJpeg& nj = nvjpeg();
        if (!nj.createEx) fail(TRTN_UNSUPPORTED, nj.error);
        TRTN_CUDA_CHECK(cudaSetDevice(device));
        auto d = std::make_unique<trtn_jpeg_decoder>();
        d->device = device;
        d->max_batch = max_batch;
        check(create_handle(nj, NVJPEG_BACKEND_DEFAULT, &d->cuda), "nvjpegCreateEx(NVJPEG_BACKEND_DEFAULT)");
        check(nj.stateCreate(d->cuda, &d->cuda_batch), "nvjpegJpegStateCreate");
        check(nj.stateCreate(d->cuda, &d->cuda_single), "nvjpegJpegStateCreate");
        // The hardware decoder (A100, H100, H200, ...): refused elsewhere, which only means the CUDA backend does all.
        if (create_handle(nj, NVJPEG_BACKEND_HARDWARE, &d->hw) == NVJPEG_STATUS_SUCCESS) {
            if (nj.stateCreate(d->hw, &d->hw_batch) != NVJPEG_STATUS_SUCCESS || nj.streamCreate(d->hw, &d->hw_parsed) != NVJPEG_STATUS_SUCCESS) {
                if (d->hw_batch) nj.stateDestroy(d->hw_batch);
                nj.destroy(d->hw);
                d->hw = nullptr;
                d->hw_batch = nullptr;
                d->hw_parsed = nullptr;
            }
        } else {
            d->hw = nullptr;
        }
        *out = d.release();
    });
}

TRTN_API void trtn_jpeg_decoder_destroy(trtn_jpeg_decoder* decoder) { delete decoder; }

TRTN_API int32_t trtn_jpeg_decoder_is_hardware(const trtn_jpeg_decoder* decoder) { return decoder && decoder->hw && decoder->use_hw ? 1 : 0; }

TRTN_API trtn_status* trtn_jpeg_decoder_decode(trtn_jpeg_decoder* decoder, const void* const* data, const uint64_t* sizes,
                                               int32_t count, void* stream, trtn_jpeg_image* images) {
    return trtn::guard("trtn_jpeg_decoder_decode", [&] {
        require(decoder != nullptr, TRTN_INVALID_ARGUMENT, "decoder is null");
        require(count >= 1 && count <= decoder->max_batch, TRTN_INVALID_ARGUMENT,
                "count " + std::to_string(count) + " outside 1.." + std::to_string(decoder->max_batch));
        require(data && sizes && images, TRTN_INVALID_ARGUMENT, "data, sizes and images must not be null");
        const NvJpeg& nj = nvjpeg();
        auto s = static_cast<cudaStream_t>(stream);
        std::vector<size_t> offset(count, 0);
        size_t total = 0;
        for (int i = 0; i < count; ++i) {
            trtn_jpeg_image& im = images[i];
            im = trtn_jpeg_image{};
            if (!data[i] || sizes[i] == 0) {
                im.status = TRTN_INVALID_ARGUMENT;
                continue;
            }
            int nc = 0, w[NVJPEG_MAX_COMPONENT] = {}, h[NVJPEG_MAX_COMPONENT] = {};
            nvjpegChromaSubsampling_t css = NVJPEG_CSS_UNKNOWN;
            nvjpegStatus_t st = nj.getImageInfo(decoder->cuda, static_cast<const unsigned char*>(data[i]), (size_t)sizes[i], &nc, &css, w, h);
            if (st == NVJPEG_STATUS_SUCCESS && ((nc != 1 && nc != 3) || css == NVJPEG_CSS_UNKNOWN || w[0] <= 0 || h[0] <= 0))
                st = NVJPEG_STATUS_JPEG_NOT_SUPPORTED;
            if (st == NVJPEG_STATUS_SUCCESS && (int64_t)w[0] * 3 > INT32_MAX / 2) st = NVJPEG_STATUS_JPEG_NOT_SUPPORTED;
            if (st != NVJPEG_STATUS_SUCCESS) {
                im.status = image_code(st);
                im.nvjpeg_status = st;
                continue;
            }
            im.width = w[0];
            im.height = h[0];
            im.pitch = w[0] * 3;
            offset[i] = total;
            total += round_up((size_t)im.pitch * im.height, 256);
        }
        if (total > decoder->arena_bytes) {
            // cudaFree waits for the device, so work still reading the old arena has finished.
            if (decoder->arena) TRTN_CUDA_CHECK(cudaFree(decoder->arena));
            decoder->arena = nullptr;
            decoder->arena_bytes = 0;
            size_t bytes = round_up(total + total / 4, 1 << 20);
            TRTN_CUDA_CHECK(cudaMalloc(&decoder->arena, bytes));
            decoder->arena_bytes = bytes;
        }
        std::vector<nvjpegImage_t> dest(count);
        std::vector<int> hw_group, cuda_group;
        for (int i = 0; i < count; ++i) {
            trtn_jpeg_image& im = images[i];
            if (im.status != TRTN_OK) continue;
            dest[i] = nvjpegImage_t{};
            dest[i].channel[0] = decoder->arena + offset[i];
            dest[i].pitch[0] = (size_t)im.pitch;
            int unsupported = 1;
            if (decoder->hw && decoder->use_hw && parse_header(nj, decoder->hw, data[i], sizes[i], decoder->hw_parsed) == NVJPEG_STATUS_SUCCESS &&
                nj.batchedSupported(decoder->hw, decoder->hw_parsed, &unsupported) == NVJPEG_STATUS_SUCCESS && unsupported == 0)
                hw_group.push_back(i);
            else
                cuda_group.push_back(i);
        }
        if (!hw_group.empty() && !decoder->hw_preallocated && preallocate_hardware_state() && nj.batchedPreAllocate) {
            // A hint only: if nvJPEG refuses it, batches decode as they would without it.
            int width = 0, height = 0;
            for (int i : hw_group) {
                width = std::max(width, images[i].width);
                height = std::max(height, images[i].height);
            }
            nvjpegStatus_t st = nj.batchedPreAllocate(decoder->hw, decoder->hw_batch, decoder->max_batch, width, height, NVJPEG_CSS_444,
                                                      NVJPEG_OUTPUT_RGBI);
            decoder->hw_preallocated = true;
            // Said on stderr, only under the switch: an A/B whose pre-allocation nvJPEG refused measures nothing.
            std::fprintf(stderr, "trtn: TRTN_JPEG_PREALLOCATE: nvjpegDecodeBatchedPreAllocate(%d images, %dx%d): %s\n", decoder->max_batch,
                         width, height, status_name(st));
        }
        std::vector<int> single;
        bool hw_failed = !decode_batched(nj, decoder->hw, decoder->hw_batch, decoder->hw_batch_size, hw_group, data, sizes, dest, s);
        if (hw_failed) single.insert(single.end(), hw_group.begin(), hw_group.end());
        else if (!hw_group.empty()) decoder->hw_failures = 0;
        // One file alone needs no batch (and a lone failure then names the file at once).
        if (cuda_group.size() == 1 ||
            !decode_batched(nj, decoder->cuda, decoder->cuda_batch, decoder->cuda_batch_size, cuda_group, data, sizes, dest, s))
            single.insert(single.end(), cuda_group.begin(), cuda_group.end());
        for (int i : single) {
            nvjpegStatus_t st = nj.decode(decoder->cuda, decoder->cuda_single, static_cast<const unsigned char*>(data[i]), (size_t)sizes[i],
                                          NVJPEG_OUTPUT_RGBI, &dest[i], s);
            if (st == NVJPEG_STATUS_ALLOCATOR_FAILURE) check(st, "nvjpegDecode");
            if (st != NVJPEG_STATUS_SUCCESS) {
                images[i].status = image_code(st);
                images[i].nvjpeg_status = st;
            }
        }
        if (hw_failed) {
            // A failed hardware batch whose files all decode one by one was the hardware path's failure, not a file's.
            bool files_fine = true;
            for (int i : hw_group) files_fine = files_fine && images[i].status == TRTN_OK;
            if (files_fine && ++decoder->hw_failures >= kMaxHwFailures) decoder->use_hw = false;
        }
        for (int i = 0; i < count; ++i)
            if (images[i].status == TRTN_OK) images[i].pixels = reinterpret_cast<uint64_t>(dest[i].channel[0]);
    });
}

}  // extern "C"

#else  // no nvjpeg.h at build time

namespace {
trtn_status* no_nvjpeg(const char* fn) {
    return new (std::nothrow) trtn_status{TRTN_UNSUPPORTED, std::string(fn) + ": this build of libtrtnative has no nvJPEG (nvjpeg.h was not found at configure time)"};
}
}  // namespace

extern "C" {
TRTN_API trtn_status* trtn_jpeg_decoder_create(int32_t, int32_t, trtn_jpeg_decoder** out) {
    if (out) *out = nullptr;
    return no_nvjpeg("trtn_jpeg_decoder_create");
}
TRTN_API void trtn_jpeg_decoder_destroy(trtn_jpeg_decoder*) {}
TRTN_API int32_t trtn_jpeg_decoder_is_hardware(const trtn_jpeg_decoder*) { return 0; }
TRTN_API trtn_status* trtn_jpeg_decoder_decode(trtn_jpeg_decoder*, const void* const*, const uint64_t*, int32_t, void*, trtn_jpeg_image*) {
    return no_nvjpeg("trtn_jpeg_decoder_decode");
}
}  // extern "C"

#endif
