using System.Globalization;
using System.Text.Json.Nodes;

namespace TrtNative.Sample.LoadGen;

/// <summary>One class of a predict answer: its label (<c>cat</c>) and its score (<c>prob</c>).</summary>
internal readonly record struct ClassScore(string Cat, double Prob);

/// <summary>
/// One image predicted on the measured service and on the reference service, every class: the two top-1 classes with
/// their scores, and the relative L2 distance ‖measured − reference‖ / ‖reference‖ of the score vectors (classes
/// matched by label).
/// </summary>
internal sealed record ImageAccuracy(
    string Image, int Classes, string Top1, double Top1Prob, string ReferenceTop1, double ReferenceTop1Prob, bool Top1Agrees, double RelL2);

/// <summary>The measured service against a reference service (--reference-service) on the run's images.</summary>
internal sealed record AccuracyReport(
    string ReferenceService, int Images, int Top1Agree, double RelL2Max, double RelL2Mean, List<ImageAccuracy> PerImage)
{
    /// <summary>The summary of <paramref name="perImage"/> (at least one image).</summary>
    public static AccuracyReport Of(string referenceService, List<ImageAccuracy> perImage) =>
        new(referenceService, perImage.Count, perImage.Count(i => i.Top1Agrees), perImage.Max(i => i.RelL2), perImage.Average(i => i.RelL2), perImage);

    /// <summary>The line printed with the run's table.</summary>
    public string Line() => string.Create(CultureInfo.InvariantCulture,
        $"accuracy vs reference service {ReferenceService}: top-1 agrees on {Top1Agree}/{Images} images, rel L2 max {RelL2Max:G3} (mean {RelL2Mean:G3})");
}

/// <summary>Compares the class scores two services gave one image.</summary>
internal static class ReferenceAccuracy
{
    /// <summary>
    /// The classes of the first prediction of a DeepDetect predict answer (<c>body.predictions[0].classes[]</c>, each
    /// with <c>cat</c> and <c>prob</c>); a <see cref="FormatException"/> saying what is missing otherwise.
    /// </summary>
    public static List<ClassScore> Classes(JsonNode? answer)
    {
        if (answer?["body"]?["predictions"] is not JsonArray { Count: > 0 } predictions)
            throw new FormatException("the answer has no body.predictions");
        if (predictions[0]?["classes"] is not JsonArray classes)
            throw new FormatException("the prediction has no classes[]");
        var list = new List<ClassScore>(classes.Count);
        foreach (var c in classes)
        {
            if (c?["cat"] is not JsonValue cat || c["prob"] is not JsonValue prob || !prob.TryGetValue(out double p))
                throw new FormatException($"a class without a cat or a numeric prob: {c?.ToJsonString()}");
            // cat is a string in DeepDetect's answers; a number is accepted as its text.
            list.Add(new ClassScore(cat.TryGetValue(out string? s) ? s : cat.ToJsonString(), p));
        }
        return list;
    }

    /// <summary>
    /// <paramref name="image"/>'s scores from the measured service against the reference service's: top-1 (the highest
    /// score, the first of equal ones in the answer's order) and relative L2 over the classes matched by label (0 when
    /// both are all zero, +∞ when only the reference is). Both must hold the same classes, each once: otherwise an
    /// <see cref="InvalidOperationException"/> that says which class or count differs.
    /// </summary>
    public static ImageAccuracy Compare(string image, IReadOnlyList<ClassScore> measured, IReadOnlyList<ClassScore> reference)
    {
        if (measured.Count == 0 || reference.Count == 0)
            throw new InvalidOperationException($"{image}: no classes from the {(measured.Count == 0 ? "measured" : "reference")} service");
        if (measured.Count != reference.Count)
            throw new InvalidOperationException($"{image}: the measured service gave {measured.Count} classes, the reference service {reference.Count}: " +
                                                "not the same model or labels, or a threshold dropped some");
        var refByCat = new Dictionary<string, double>(reference.Count, StringComparer.Ordinal);
        foreach (var c in reference)
            if (!refByCat.TryAdd(c.Cat, c.Prob)) throw new InvalidOperationException($"{image}: class '{c.Cat}' appears twice in the reference service's answer");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        double diff2 = 0, ref2 = 0;
        foreach (var c in measured)
        {
            if (!seen.Add(c.Cat)) throw new InvalidOperationException($"{image}: class '{c.Cat}' appears twice in the measured service's answer");
            if (!refByCat.TryGetValue(c.Cat, out double r))
                throw new InvalidOperationException($"{image}: the measured service's class '{c.Cat}' is not among the reference service's classes " +
                                                    $"(e.g. '{reference[0].Cat}'): not the same labels");
            diff2 += (c.Prob - r) * (c.Prob - r);
            ref2 += r * r;
        }
        var top = Top1(measured);
        var refTop = Top1(reference);
        double relL2 = ref2 > 0 ? Math.Sqrt(diff2 / ref2) : diff2 == 0 ? 0 : double.PositiveInfinity;
        return new ImageAccuracy(image, measured.Count, top.Cat, top.Prob, refTop.Cat, refTop.Prob, top.Cat == refTop.Cat, relL2);
    }

    private static ClassScore Top1(IReadOnlyList<ClassScore> classes)
    {
        var best = classes[0];
        foreach (var c in classes)
            if (c.Prob > best.Prob) best = c;
        return best;
    }
}
