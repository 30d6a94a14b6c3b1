using System.Diagnostics;
using System.Text.Json.Nodes;
using TrtNative.Server.Api;
using TrtNative.Server.Imaging;
using TrtNative.Server.Inference;

namespace TrtNative.Server.Services;

/// <summary>POST /predict: parses the body, reads and preprocesses the images, runs them through the service.</summary>
public sealed class Predictor(ServiceRegistry registry, ImageSources sources, ServerOptions opts)
{
    // Decoding is CPU- and memory-heavy: bound how many images are decoded at once across all requests.
    private readonly SemaphoreSlim _decoders = new(Math.Max(2, Environment.ProcessorCount));

    /// <summary>Returns (service name, predictions) or throws a <see cref="DdException"/>.</summary>
    public async Task<(string service, List<Prediction> predictions)> PredictAsync(JsonObject body, CancellationToken ct)
    {
        string name = JsonRead.Str(body, "service", "service") ?? throw DdException.BadRequest("'service' is missing");
        var svc = registry.Get(name);
        // DeepDetect's service_stats: the call counts from here, as a failure if anything below throws.
        long start = Stopwatch.GetTimestamp();
        bool succeeded = false;
        try
        {
            var parameters = JsonRead.Obj(body, "parameters", "parameters");
            UnsupportedOptions.Check(parameters, "parameters");
            var inputObj = JsonRead.Obj(parameters, "input", "parameters.input");
            JsonRead.Obj(parameters, "mllib", "parameters.mllib");
            var outObj = JsonRead.Obj(parameters, "output", "parameters.output");
            var input = svc.Def.Input.With(inputObj, "parameters.input");
            if (input.Channels != svc.Def.Input.Channels || input.OutWidth != svc.Def.Input.OutWidth || input.OutHeight != svc.Def.Input.OutHeight)
                throw DdException.InputError($"parameters.input would feed {input.Channels}x{input.OutHeight}x{input.OutWidth} but service '{svc.Def.Name}' " +
                    $"was built for {svc.Def.Input.Channels}x{svc.Def.Input.OutHeight}x{svc.Def.Input.OutWidth} (CxHxW)");
            int best = JsonRead.Int(outObj, "best", "parameters.output.best") ?? svc.Def.Best;
            if (best == 0 || best < -1) throw DdException.InputError($"parameters.output.best must be >= 1 or -1 (all), got {best}");
            double thr = JsonRead.Num(outObj, "confidence_threshold", "parameters.output.confidence_threshold") ?? svc.Def.Threshold;
            var data = JsonRead.Data(body, "data", "data");
            if (data == null || data.Count == 0) throw DdException.NoData();

            // Whether JPEGs go over encoded is known once the build is over: a predict that came during it waits first
            // (409/1008 after BuildWaitSeconds), so its files take the route of the same files sent later.
            bool gpuJpeg = await svc.DecodesJpegAsync(ct);
            long transformStart = Stopwatch.GetTimestamp();
            var entries = sources.Resolve(data, registry.AllowedRoots);
            if (entries.Count == 0) throw DdException.NoData("No Data: the data entries expand to no file");
            if (entries.Count > opts.MaxImagesPerRequest)
                throw DdException.InputError($"the request has {entries.Count} images, over the limit of {opts.MaxImagesPerRequest}");
            var normalization = input.ToNormalization();
            // A GPU service decodes the JPEGs its decoder can take itself, batched across requests; the rest (and
            // anything it refuses) take the SkiaSharp path below (gpuJpeg, decided above once the build is over).
            // Tell the batching queue these images are coming, so a batch being formed waits for them.
            using var expectation = svc.Expect(entries.Count);
            // Decode in parallel (bounded by the thread pool); any unreadable image fails this request only.
            var tensors = await Task.WhenAll(entries.Select(e => Task.Run(async () =>
            {
                await _decoders.WaitAsync(ct);
                try
                {
                    var bytes = await e.Load(ct);
                    if (gpuJpeg && JpegHeader.GpuDecodable(bytes, opts.MaxImagePixels))
                        return (e.Uri, PreparedImage.FromJpeg(new EncodedJpeg(bytes, input, opts.MaxImagePixels), normalization));
                    var img = ImageDecoder.Decode(bytes, input.Bw, opts.MaxImagePixels);
                    // Resize and crop here; normalisation happens in the backend (a GPU kernel on the GPU). The pixel
                    // buffers come from the service's pool (returned once the batch has read them).
                    return (e.Uri, new PreparedImage(ImagePreprocessor.ToPixels(img, input, svc.RentPixels()), normalization));
                }
                catch (Exception ex) when (ex is ImageReadException or IOException or UnauthorizedAccessException)
                {
                    throw DdException.InputError($"Could not read image(s): {e.Uri}: {ex.Message}");
                }
                finally
                {
                    _decoders.Release();
                }
            }, ct)));
            svc.PredictStats.Transformed(Stopwatch.GetElapsedTime(transformStart), tensors.Length);
            var predictions = await svc.PredictAsync(tensors.ToList(), best, thr, ct, expectation);
            succeeded = true;
            return (svc.Def.Name, predictions);
        }
        finally
        {
            svc.PredictStats.PredictEnded(succeeded, Stopwatch.GetElapsedTime(start));
        }
    }
}
