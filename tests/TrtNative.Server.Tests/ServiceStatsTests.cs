using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Onnx;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>GET /services/{name}: DeepDetect's service_stats (src/service_stats.cc), jobs and model_stats.</summary>
public class ServiceStatsTests(ServerFactory f) : IClassFixture<ServerFactory>
{
    private readonly HttpClient _c = f.CreateClient();

    // Every field DeepDetect's ServiceStats::to writes.
    private static readonly string[] DdFields =
    [
        "inference_count", "predict_success", "predict_failure", "predict_count", "avg_batch_size", "avg_predict_duration_ms",
        "avg_transform_duration_ms", "avg_predict_duration_s", "avg_transform_duration_s", "total_predict_duration_ms",
        "total_transform_duration_ms", "avg_predict_duration", "avg_transform_duration",
    ];

    [Fact]
    public async Task ServiceStatsAreDeepDetectsWithMeasuredValues()
    {
        string repo = TestModels.MeansRepo(f.Dir.Sub("stats"));
        Assert.Equal(HttpStatusCode.Created, (await Put(_c, "/services/stats", MeansService(repo))).code);

        var (code, fresh) = await Get(_c, "/services/stats");
        Assert.Equal(HttpStatusCode.OK, code);
        var st = fresh["body"]!["service_stats"]!.AsObject();
        foreach (var k in DdFields) Assert.True(st.ContainsKey(k), $"service_stats lacks {k}: {st.ToJsonString()}");
        // Before any predict DeepDetect reports averages of -1 and zero totals.
        Assert.Equal((0, -1.0, 0.0), ((int)st["predict_count"]!, (double)st["avg_batch_size"]!, (double)st["total_transform_duration_ms"]!));

        var client = Stopwatch.StartNew();
        var ok3 = await Post(_c, "/predict", Predict("stats", Img.B64(Img.Uniform(1, 2, 3)), Img.B64(Img.Uniform(4, 5, 6)), Img.B64(Img.Uniform(7, 8, 9))));
        var ok1 = await Post(_c, "/predict", Predict("stats", Img.B64(Img.Uniform(1, 1, 1))));
        var bad = await Post(_c, "/predict", Predict("stats", Img.B64("not an image"u8.ToArray())));
        double clientMs = client.Elapsed.TotalMilliseconds;
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.BadRequest), (ok3.code, ok1.code, bad.code));

        var (_, after) = await Get(_c, "/services/stats");
        st = after["body"]!["service_stats"]!.AsObject();
        Assert.Equal((3, 2, 1, 4), ((int)st["predict_count"]!, (int)st["predict_success"]!, (int)st["predict_failure"]!, (int)st["inference_count"]!));
        Assert.Equal(4.0 / 3.0, (double)st["avg_batch_size"]!, 9);
        double totalPredict = (double)st["total_predict_duration_ms"]!, totalTransform = (double)st["total_transform_duration_ms"]!;
        // Real measurements: positive, the transform is part of the predict, and the server cannot have spent
        // longer than the client waited.
        Assert.True(totalTransform > 0, st.ToJsonString());
        Assert.True(totalTransform < totalPredict, st.ToJsonString());
        Assert.True(totalPredict <= clientMs, $"{totalPredict} ms > {clientMs} ms seen by the client");
        Assert.Equal(totalPredict / 3, (double)st["avg_predict_duration_ms"]!, 6);
        Assert.Equal(totalTransform / 3, (double)st["avg_transform_duration_ms"]!, 6);
        Assert.Equal(totalPredict / 3000, (double)st["avg_predict_duration_s"]!, 9);
        Assert.Equal(totalTransform / 3000, (double)st["avg_transform_duration_s"]!, 9);
        Assert.Equal((double)st["avg_predict_duration_s"]!, (double)st["avg_predict_duration"]!);
        Assert.Equal((double)st["avg_transform_duration_s"]!, (double)st["avg_transform_duration"]!);
    }

    [Fact]
    public async Task ServiceInfoHasJobsAndModelStats()
    {
        string repo = f.Dir.Sub("weighted");
        WriteWeightedMeans(Path.Combine(repo, "weighted.onnx"));
        Assert.Equal(HttpStatusCode.Created, (await Put(_c, "/services/weighted", MeansService(repo))).code);

        var (_, svc) = await Get(_c, "/services/weighted");
        var body = svc["body"]!.AsObject();
        Assert.Empty(body["jobs"]!.AsArray()); // no training jobs, but the list is there (status defaults to true)
        Assert.Equal(3, (int)body["model_stats"]!["params"]!);
        Assert.Equal(3, (int)body["stats"]!["params"]!); // DeepDetect's older name for model_stats
        var (_, noStatus) = await Get(_c, "/services/weighted?status=false");
        Assert.False(noStatus["body"]!.AsObject().ContainsKey("jobs"));

        // The weights are used: prob = channel mean × 2.
        var (pc, p) = await Post(_c, "/predict", Predict("weighted", Img.B64(Img.Uniform(0, 0, 5))));
        Assert.Equal(HttpStatusCode.OK, pc);
        Assert.Equal(10.0, Prob(p, 0, "0"), 4);
    }

    // The means model with prob = flatten(mean) × w, w a 3-element initializer of 2s: 3 parameters.
    private static void WriteWeightedMeans(string path)
    {
        TestModels.WriteMeans(path, 3, 4, 4);
        var m = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        m.Graph.Node.Single(n => n.OpType == "Flatten").Output[0] = "flat";
        m.Graph.Node.Add(new NodeProto { OpType = "Mul", Input = { "flat", "w" }, Output = { "prob" }, Name = "scale" });
        var w = new TensorProto { Name = "w", DataType = 1, Dims = { 3 } };
        w.FloatData.Add([2f, 2f, 2f]);
        m.Graph.Initializer.Add(w);
        File.WriteAllBytes(path, m.ToByteArray());
    }
}
