using SkiaSharp;
using TrtNative.Server.Imaging;
using Xunit;

namespace TrtNative.Server.Tests;

/// <summary>Decoding (formats, EXIF), resizing and the tensor conversion.</summary>
public class ImageTests
{
    private static (byte r, byte g, byte b) At(DecodedImage im, int x, int y)
    {
        int i = (y * im.Width + x) * im.Channels;
        return im.Channels == 1 ? (im.Pixels[i], im.Pixels[i], im.Pixels[i]) : (im.Pixels[i], im.Pixels[i + 1], im.Pixels[i + 2]);
    }

    private static void Near((byte r, byte g, byte b) got, (int r, int g, int b) want, int tol, string what)
    {
        Assert.True(Math.Abs(got.r - want.r) <= tol && Math.Abs(got.g - want.g) <= tol && Math.Abs(got.b - want.b) <= tol,
            $"{what}: got {got}, want {want} ±{tol}");
    }

    [Theory]
    [InlineData("baseline.jpg", 12)]
    [InlineData("progressive.jpg", 12)]
    [InlineData("cmyk.jpg", 24)]
    [InlineData("img.bmp", 0)]
    [InlineData("img.webp", 0)]
    [InlineData("anim.gif", 0)] // first frame: red | blue (the second frame is all green)
    public void ColourFormatsDecodeRedLeftBlueRight(string file, int tol)
    {
        var im = ImageDecoder.Decode(File.ReadAllBytes(TestModels.Fixture(file)), gray: false, maxPixels: 1 << 20);
        Assert.Equal((40, 30, 3), (im.Width, im.Height, im.Channels));
        Near(At(im, 5, 15), (255, 0, 0), tol, file + " left");
        Near(At(im, 35, 15), (0, 0, 255), tol, file + " right");
    }

    [Fact]
    public void SixteenBitAndGreyPng()
    {
        var im = ImageDecoder.Decode(File.ReadAllBytes(TestModels.Fixture("gray16.png")), gray: true, maxPixels: 1 << 20);
        Assert.Equal((40, 30, 1), (im.Width, im.Height, im.Channels));
        Assert.Equal(255, im.Pixels[15 * 40 + 5]);
        Assert.Equal(0, im.Pixels[15 * 40 + 35]);
        var g8 = ImageDecoder.Decode(File.ReadAllBytes(TestModels.Fixture("gray8.png")), gray: true, maxPixels: 1 << 20);
        Assert.Equal(200, g8.Pixels[5]);   // exact: grey → grey is lossless
        Assert.Equal(50, g8.Pixels[35]);
        var c8 = ImageDecoder.Decode(File.ReadAllBytes(TestModels.Fixture("gray8.png")), gray: false, maxPixels: 1 << 20);
        Assert.Equal((200, 200, 200), (c8.Pixels[15], c8.Pixels[16], c8.Pixels[17]));
    }

    [Fact]
    public void AlphaIsDroppedWithoutCompositing()
    {
        var im = ImageDecoder.Decode(File.ReadAllBytes(TestModels.Fixture("rgba.png")), gray: false, maxPixels: 1 << 20);
        Near(At(im, 5, 5), (10, 20, 30), 0, "transparent left keeps its colour");
        Near(At(im, 35, 5), (200, 100, 50), 0, "opaque right");
    }

    [Fact]
    public void ExifOrientationIsApplied()
    {
        // Stored 40x30 with red top-left quadrant; orientation 6 = rotate 90° clockwise for display.
        var im = ImageDecoder.Decode(File.ReadAllBytes(TestModels.Fixture("exif6.jpg")), gray: false, maxPixels: 1 << 20);
        Assert.Equal((30, 40), (im.Width, im.Height));
        Near(At(im, 25, 5), (255, 0, 0), 16, "red is top-right after rotation");
        Near(At(im, 5, 5), (0, 0, 255), 16, "top-left is blue");
        Near(At(im, 25, 35), (0, 0, 255), 16, "bottom-right is blue");
    }

    [Theory]
    [InlineData(SKEncodedOrigin.TopRight, 3, new byte[] { 3, 2, 1, 6, 5, 4 })]
    [InlineData(SKEncodedOrigin.BottomRight, 3, new byte[] { 6, 5, 4, 3, 2, 1 })]
    [InlineData(SKEncodedOrigin.BottomLeft, 3, new byte[] { 4, 5, 6, 1, 2, 3 })]
    [InlineData(SKEncodedOrigin.LeftTop, 2, new byte[] { 1, 4, 2, 5, 3, 6 })]
    [InlineData(SKEncodedOrigin.RightTop, 2, new byte[] { 4, 1, 5, 2, 6, 3 })]
    [InlineData(SKEncodedOrigin.RightBottom, 2, new byte[] { 6, 3, 5, 2, 4, 1 })]
    [InlineData(SKEncodedOrigin.LeftBottom, 2, new byte[] { 3, 6, 2, 5, 1, 4 })]
    public void EveryExifOrientation(SKEncodedOrigin o, int width, byte[] want)
    {
        // [1 2 3; 4 5 6] displayed per EXIF 2..8 (mirror, 180, flip, transpose, 90 CW, transverse, 90 CCW).
        var got = ImageDecoder.Orient(new DecodedImage([1, 2, 3, 4, 5, 6], 3, 2, 1), o);
        Assert.Equal(width, got.Width);
        Assert.Equal(want, got.Pixels);
    }

    [Fact]
    public void RefusesOversizedBeforeDecoding()
    {
        var e = Assert.Throws<ImageReadException>(() => ImageDecoder.Decode(File.ReadAllBytes(TestModels.Fixture("baseline.jpg")), false, maxPixels: 100));
        Assert.Contains("exceeds the limit", e.Message);
    }

    [Fact]
    public void AreaDownscaleIsBlockAverage()
    {
        // 4x2 grey → 2x1: each output is the mean of a 2x2 block.
        byte[] px = [10, 20, 100, 200, 30, 40, 0, 100];
        var r = Resampler.Resize(px, 4, 2, 1, 2, 1, Interp.Area);
        Assert.Equal(new byte[] { 25, 100 }, r);
        // The demo relies on this: an 8x nearest-upscaled image area-downscaled back is exact.
        var rnd = new Random(1);
        var small = new byte[8 * 8];
        rnd.NextBytes(small);
        var big = new byte[64 * 64];
        for (int y = 0; y < 64; y++) for (int x = 0; x < 64; x++) big[y * 64 + x] = small[(y / 8) * 8 + x / 8];
        Assert.Equal(small, Resampler.Resize(big, 64, 64, 1, 8, 8, Interp.Area));
    }

    [Fact]
    public void LinearAndNearestUseOpenCvSamplePositions()
    {
        byte[] row = [0, 100, 200, 250];
        // Linear 4 → 2: centres at 0.5 and 2.5 → (0+100)/2, (200+250)/2.
        Assert.Equal(new byte[] { 50, 225 }, Resampler.Resize(row, 4, 1, 1, 2, 1, Interp.Linear));
        // Nearest 4 → 2: floor(d × 2) → 0, 2.
        Assert.Equal(new byte[] { 0, 200 }, Resampler.Resize(row, 4, 1, 1, 2, 1, Interp.Nearest));
        // Linear 2 → 4 upscale: positions -0.25, 0.25, 0.75, 1.25 (edges replicate).
        Assert.Equal(new byte[] { 0, 25, 75, 100 }, Resampler.Resize([0, 100], 2, 1, 1, 4, 1, Interp.Linear));
    }

    [Theory]
    [InlineData(Interp.Cubic)]
    [InlineData(Interp.Lanczos4)]
    [InlineData(Interp.Area)]
    [InlineData(Interp.Linear)]
    public void FiltersKeepUniformImagesAndWeightsSumToOne(Interp mode)
    {
        var (idx, w, taps) = Resampler.Coeffs(37, 11, mode);
        for (int d = 0; d < 11; d++) Assert.Equal(1.0, w.Skip(d * taps).Take(taps).Sum(), 4);
        Assert.All(idx, i => Assert.InRange(i, 0, 36));
        var flat = Enumerable.Repeat((byte)77, 37 * 5 * 3).ToArray();
        Assert.All(Resampler.Resize(flat, 37, 5, 3, 11, 9, mode), v => Assert.Equal(77, v));
    }

    [Fact]
    public void CubicOvershootsLikeOpenCv()
    {
        // A step upscaled with Keys a=-0.75 rings: values below 0 clamp, values near the step exceed neighbours.
        byte[] step = [0, 0, 0, 0, 255, 255, 255, 255];
        var r = Resampler.Resize(step, 8, 1, 1, 16, 1, Interp.Cubic);
        Assert.Equal(255, r[^1]);
        Assert.Equal(0, r[0]);
        Assert.Contains(r, v => v > 0 && v < 255);
        var lin = Resampler.Resize(step, 8, 1, 1, 16, 1, Interp.Linear);
        Assert.NotEqual(lin, r);
    }

    [Fact]
    public void TensorIsPlanarBgrScaledWithMeanStdAndCentreCropped()
    {
        // 4x4 RGB image whose pixel (x, y) = (x, y, 10 x + y); crop 2x2 from the centre → x, y in 1..2.
        var px = new byte[4 * 4 * 3];
        for (int y = 0; y < 4; y++) for (int x = 0; x < 4; x++) { int i = (y * 4 + x) * 3; px[i] = (byte)x; px[i + 1] = (byte)y; px[i + 2] = (byte)(10 * x + y); }
        var p = new ImageInputParams { Width = 4, Height = 4, CropWidth = 2, CropHeight = 2, Scale = 2, Mean = [1, 2, 3], Std = [1, 2, 4] };
        var t = ImagePreprocessor.ToTensor(new DecodedImage(px, 4, 4, 3), p);
        Assert.Equal(12, t.Length);
        // Channel 0 = B = 10x + y at (x=1, y=1) → 11; (11*2 - 1)/1 = 21.
        Assert.Equal(21f, t[0]);
        // Channel 0, (x=2, y=1) → B = 21 → 41.
        Assert.Equal(41f, t[1]);
        // Channel 1 = G = y=2 at tensor row 1 → (2*2-2)/2 = 1.
        Assert.Equal(1f, t[4 + 2]);
        // Channel 2 = R = x: tensor (0,0) is x=1 → (1*2-3)/4 = -0.25.
        Assert.Equal(-0.25f, t[8]);
        var rgb = ImagePreprocessor.ToTensor(new DecodedImage(px, 4, 4, 3), p with { Rgb = true });
        Assert.Equal((1 * 2 - 1) / 1f, rgb[0]); // channel 0 = R now
    }

    [Fact]
    public void PixelsAreTheCroppedImageInDecodedOrderAndNormaliseToTheTensor()
    {
        var px = new byte[4 * 4 * 3];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)(i * 7);
        var img = new DecodedImage(px, 4, 4, 3);
        var p = new ImageInputParams { Width = 4, Height = 4, CropWidth = 2, CropHeight = 2, Scale = 0.5f, Mean = [1, 2, 3], Std = [2, 3, 5] };
        var pixels = ImagePreprocessor.ToPixels(img, p);
        // Rows 1..2, columns 1..2, still interleaved RGB.
        Assert.Equal(px.AsSpan((1 * 4 + 1) * 3, 6).ToArray(), pixels.AsSpan(0, 6).ToArray());
        Assert.Equal(px.AsSpan((2 * 4 + 1) * 3, 6).ToArray(), pixels.AsSpan(6, 6).ToArray());
        var planar = new float[12];
        p.ToNormalization().ToPlanar(pixels, 2, 2, 3, planar);
        Assert.Equal(ImagePreprocessor.ToTensor(img, p), planar);
        // BGR by default: channel 0 reads source channel 2.
        Assert.Equal((pixels[2] * 0.5f - 1f) / 2f, planar[0]);
        Assert.Throws<ArgumentException>(() => ImagePreprocessor.ToPixels(img, p, new byte[11]));
    }
}
