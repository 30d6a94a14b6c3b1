using TrtNative.Server.Imaging;
using TrtNative.Server.Services;
using Xunit;

namespace TrtNative.Server.Tests;

/// <summary>
/// <see cref="CalibrationFolder"/>: a service repository's calibration/ images become precision protection's
/// calibration runs through the service's own input path; a missing folder means random inputs; an unreadable image or
/// an empty folder is an error naming the problem.
/// </summary>
public class CalibrationFolderTests
{
    private static readonly ImageInputParams Input = new() { Width = 8, Height = 6, Scale = 1f / 255f, Mean = [0.5f, 0.4f, 0.3f], Std = [0.2f, 0.3f, 0.4f], Rgb = true };

    private static void WriteImages(string dir, int count)
    {
        for (int i = 0; i < count; i++)
            File.WriteAllBytes(Path.Combine(dir, $"img{i:D2}.png"), Img.Uniform((byte)(10 * i), (byte)(200 - 10 * i), 77));
    }

    private static float[] Expected(int i) =>
        ImagePreprocessor.ToTensor(ImageDecoder.Decode(Img.Uniform((byte)(10 * i), (byte)(200 - 10 * i), 77), false, 1 << 20), Input);

    [Fact]
    public void NoFolderMeansRandomCalibration()
    {
        using var repo = new TempDir();
        Assert.Null(CalibrationFolder.Load(repo.Path, Input, "data", 64, 1 << 20));
    }

    [Fact]
    public void ImagesBecomeBatchesOfTheServicesInputTensors()
    {
        using var repo = new TempDir();
        WriteImages(repo.Sub(CalibrationFolder.Name), 10);
        File.WriteAllText(Path.Combine(repo.Path, CalibrationFolder.Name, "notes.txt"), "not an image: skipped by extension");

        var runs = CalibrationFolder.Load(repo.Path, Input, "data", 64, 1 << 20)!;

        Assert.Equal(2, runs.Count);
        Assert.Equal([8L, 3, 6, 8], runs[0]["data"].Shape);
        Assert.Equal([2L, 3, 6, 8], runs[1]["data"].Shape);
        int size = 3 * 6 * 8;
        for (int i = 0; i < 10; i++)
        {
            var got = runs[i / 8]["data"].Floats!.AsSpan(i % 8 * size, size).ToArray();
            Assert.Equal(Expected(i), got);
        }
    }

    [Fact]
    public void AFixedBatchModelGetsFullBatchesFilledWithTheFirstImages()
    {
        using var repo = new TempDir();
        WriteImages(repo.Sub(CalibrationFolder.Name), 5);

        var runs = CalibrationFolder.Load(repo.Path, Input, "data", 64, 1 << 20, fixedBatch: 4)!;

        Assert.Equal(2, runs.Count);
        Assert.All(runs, r => Assert.Equal([4L, 3, 6, 8], r["data"].Shape));
        int size = 3 * 6 * 8;
        Assert.Equal(Expected(4), runs[1]["data"].Floats!.AsSpan(0, size).ToArray());
        Assert.Equal(Expected(0), runs[1]["data"].Floats!.AsSpan(size, size).ToArray());
    }

    [Fact]
    public void AnUnreadableImageIsNamed()
    {
        using var repo = new TempDir();
        string dir = repo.Sub(CalibrationFolder.Name);
        WriteImages(dir, 2);
        File.WriteAllBytes(Path.Combine(dir, "broken.jpg"), [0xFF, 0xD8, 0xFF, 0x00, 0x01]);

        var e = Assert.Throws<InvalidDataException>(() => CalibrationFolder.Load(repo.Path, Input, "data", 64, 1 << 20));
        Assert.Contains("'broken.jpg'", e.Message);
    }

    [Fact]
    public void AFolderWithoutImagesIsAnError()
    {
        using var repo = new TempDir();
        File.WriteAllText(Path.Combine(repo.Sub(CalibrationFolder.Name), "readme.txt"), "no images here");
        var e = Assert.Throws<InvalidDataException>(() => CalibrationFolder.Load(repo.Path, Input, "data", 64, 1 << 20));
        Assert.Contains("holds no image", e.Message);
    }
}
