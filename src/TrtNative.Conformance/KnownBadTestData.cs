namespace TrtNative.Conformance;

/// <summary>
/// ONNX 1.12 node tests (Debian's libonnx-testdata) whose stored outputs disagree with ONNX Runtime, our numerical
/// reference. Test code on the CPU and the GPU excuses wrong values for these (never crashes or refusals).
/// </summary>
public static class KnownBadTestData
{
    /// <summary>
    /// Node tests whose stored outputs are known to disagree with the current ONNX semantics, and why. Only wrong
    /// values are excused here; a crash is never.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> Entries = new Dictionary<string, string>
    {
        // ONNX 1.12's generator truncated float→bfloat16; Cast rounds to nearest even as ONNX Runtime and opset 19 do
        // (e.g. 0.48033667 is 245.93 bfloat16 steps: the data says 245, rounding says 246).
        ["test_cast_FLOAT_to_BFLOAT16"] = "truncating float→bfloat16 in the test data",
        ["test_castlike_FLOAT_to_BFLOAT16"] = "truncating float→bfloat16 in the test data",
        ["test_castlike_FLOAT_to_BFLOAT16_expanded"] = "truncating float→bfloat16 in the test data",
        // The ONNX 1.12 reference takes length_resized = scale·length (2.4) for align_corners with scales
        // (onnx/onnx#2462); Resize uses the output size (2) as ONNX Runtime and PyTorch do: 4, not 3.142857. The cubic
        // test has the same mismatch (3.2 against 3). ResizeOpsOrtTests checks ONNX Runtime agrees with us on both.
        ["test_resize_downsample_scales_linear_align_corners"] = "align_corners with scale·length instead of the output size",
        ["test_resize_downsample_scales_cubic_align_corners"] = "align_corners with scale·length instead of the output size",
    };
}
