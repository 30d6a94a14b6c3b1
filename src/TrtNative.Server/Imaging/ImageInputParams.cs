using System.Text.Json.Nodes;
using TrtNative;
using TrtNative.Runtime;
using TrtNative.Server.Api;

namespace TrtNative.Server.Imaging;

/// <summary>Resampling filter, named as DeepDetect (OpenCV) names them.</summary>
public enum Interp { Nearest, Linear, Cubic, Area, Lanczos4 }

/// <summary>
/// The image input connector's parameters (parameters.input). Service creation sets them; a predict may
/// override any of them for that call only.
/// </summary>
public sealed record ImageInputParams
{
    /// <summary>Resize width (default 224).</summary>
    public int Width { get; init; } = 224;
    /// <summary>Resize height (default 224).</summary>
    public int Height { get; init; } = 224;
    /// <summary>One grey channel instead of three.</summary>
    public bool Bw { get; init; }
    /// <summary>RGB channel order; false (DeepDetect's default) means BGR.</summary>
    public bool Rgb { get; init; }
    /// <summary>Multiplies each pixel (0..255) before mean/std; no implicit /255.</summary>
    public float Scale { get; init; } = 1f;
    /// <summary>Per-channel mean subtracted after scaling (tensor channel order), or null for 0.</summary>
    public float[]? Mean { get; init; }
    /// <summary>Per-channel divisor, or null for 1.</summary>
    public float[]? Std { get; init; }
    /// <summary>Resize filter (default cubic).</summary>
    public Interp Interp { get; init; } = Interp.Cubic;
    /// <summary>Centre-crop width after resizing (0 = no crop).</summary>
    public int CropWidth { get; init; }
    /// <summary>Centre-crop height after resizing (0 = no crop).</summary>
    public int CropHeight { get; init; }

    /// <summary>Channels in the tensor.</summary>
    public int Channels => Bw ? 1 : 3;
    /// <summary>Tensor width (crop width when cropping).</summary>
    public int OutWidth => CropWidth > 0 ? CropWidth : Width;
    /// <summary>Tensor height (crop height when cropping).</summary>
    public int OutHeight => CropHeight > 0 ? CropHeight : Height;

    /// <summary>
    /// How the cropped 8-bit pixels (decoded order: RGB, or one grey channel) become tensor values: BGR unless
    /// <see cref="Rgb"/>, then ((pixel × scale) − mean[c]) / std[c].
    /// </summary>
    public ImageNormalization ToNormalization() =>
        new(Channels, Scale, Mean, Std, Channels == 3 && !Rgb ? [2, 1, 0] : null);

    /// <summary>
    /// Applies the fields present in <paramref name="input"/> on top of this; validates the result.
    /// A wrong JSON type is 400/400; a value out of range is 400/1005.
    /// </summary>
    public ImageInputParams With(JsonObject? input, string path)
    {
        if (input == null) return this;
        var p = this with
        {
            Width = JsonRead.Int(input, "width", path + ".width") ?? Width,
            Height = JsonRead.Int(input, "height", path + ".height") ?? Height,
            Bw = JsonRead.Bool(input, "bw", path + ".bw") ?? Bw,
            Rgb = JsonRead.Bool(input, "rgb", path + ".rgb") ?? Rgb,
            Scale = (float)(JsonRead.Num(input, "scale", path + ".scale") ?? Scale),
            Mean = JsonRead.Floats(input, "mean", path + ".mean") ?? Mean,
            Std = JsonRead.Floats(input, "std", path + ".std") ?? Std,
            CropWidth = JsonRead.Int(input, "crop_width", path + ".crop_width") ?? CropWidth,
            CropHeight = JsonRead.Int(input, "crop_height", path + ".crop_height") ?? CropHeight,
        };
        var interp = JsonRead.Str(input, "interp", path + ".interp");
        if (interp != null)
        {
            p = p with
            {
                Interp = interp.ToLowerInvariant() switch
                {
                    "nearest" => Interp.Nearest,
                    "linear" => Interp.Linear,
                    "cubic" => Interp.Cubic,
                    "area" => Interp.Area,
                    "lanczos4" => Interp.Lanczos4,
                    _ => throw DdException.InputError($"{path}.interp '{interp}' is not one of nearest, linear, cubic, area, lanczos4"),
                },
            };
        }
        if (JsonRead.Bool(input, "aspect_ratio_pad", path + ".aspect_ratio_pad") == true)
            throw DdException.InputError($"{path}.aspect_ratio_pad is not supported yet by TrtNative.Server");
        if (input["scale_min"] != null || input["scale_max"] != null)
            throw DdException.InputError($"{path}.scale_min/scale_max are not supported yet by TrtNative.Server");
        p.Validate(path);
        return p;
    }

    /// <summary>Throws 400/1005 when the parameters are inconsistent.</summary>
    public void Validate(string path)
    {
        if (Width <= 0 || Height <= 0 || Width > 16384 || Height > 16384)
            throw DdException.InputError($"{path}: width and height must be in 1..16384 (got {Width}x{Height})");
        if (CropWidth < 0 || CropHeight < 0 || CropWidth > Width || CropHeight > Height)
            throw DdException.InputError($"{path}: crop_width/crop_height ({CropWidth}x{CropHeight}) must not exceed width/height ({Width}x{Height})");
        // Scale, mean, std and the channel count are checked where both backends take them: the normalisation.
        try
        {
            ToNormalization();
        }
        catch (TrtNativeException e)
        {
            throw DdException.InputError($"{path}: {e.Message}");
        }
    }
}
