using Google.Protobuf;
using Onnx;
using TrtNative.Ir;

namespace TrtNative.Onnx;

/// <summary>
/// Writes a <see cref="Graph"/> as an ONNX ModelProto: opset imports, initializers as raw_data, inputs and outputs
/// with their (symbolic) shapes, nodes with their attributes. Used to hand models built in C# to ONNX Runtime and
/// to save optimized graphs; <see cref="OnnxImporter"/> reads the result back unchanged.
/// </summary>
public static class OnnxExporter
{
    /// <summary>Writes <paramref name="g"/> to <paramref name="path"/>.</summary>
    public static void Save(Graph g, string path) => File.WriteAllBytes(path, ToBytes(g));

    /// <summary>The serialized ModelProto of <paramref name="g"/>.</summary>
    public static byte[] ToBytes(Graph g) => ToModel(g).ToByteArray();

    /// <summary>The ModelProto of <paramref name="g"/>.</summary>
    internal static ModelProto ToModel(Graph g)
    {
        if (!g.Opsets.TryGetValue("", out long opset) && !g.Opsets.TryGetValue("ai.onnx", out opset))
        {
            if (g.Nodes.Any(n => n.Domain is "" or "ai.onnx"))
                throw new TrtNativeException(ErrorCode.InvalidArgument, "the graph has no ai.onnx opset: set Graph.Opsets[\"\"] before exporting");
            opset = 1;
        }

        var model = new ModelProto
        {
            IrVersion = IrVersionFor(opset),
            ProducerName = "TrtNative",
            Graph = new GraphProto { Name = g.Name },
        };
        var opsets = g.Opsets.ToDictionary(o => o.Key == "ai.onnx" ? "" : o.Key, o => o.Value, StringComparer.Ordinal);
        // A node of a domain the graph does not import (our fused ops, added by passes) still needs an import.
        foreach (var n in g.Nodes) if (n.Domain is not ("" or "ai.onnx")) opsets.TryAdd(n.Domain, 1);
        foreach (var (domain, version) in opsets.OrderBy(o => o.Key, StringComparer.Ordinal))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });

        var gp = model.Graph;
        foreach (var (name, t) in g.Initializers.OrderBy(i => i.Key, StringComparer.Ordinal))
            gp.Initializer.Add(OnnxTensors.ToProto(t, name));
        foreach (var i in g.Inputs) gp.Input.Add(ToValueInfo(i));
        foreach (var o in g.Outputs)
            gp.Output.Add(ToValueInfo(g.Values.TryGetValue(o.Name, out var inferred) && (o.Shape is null || o.Type == DataType.Undefined) ? inferred : o));
        foreach (var n in g.Nodes) gp.Node.Add(ToNode(n));
        return model;
    }

    // The IR version of the ONNX release that introduced each opset: new enough for the opset, old enough for
    // every runtime that knows it.
    private static long IrVersionFor(long opset) => opset switch
    {
        <= 8 => 3, 9 => 4, 10 => 5, 11 => 6, <= 14 => 7, <= 18 => 8, <= 20 => 9, 21 => 10, _ => 11,
    };

    private static ValueInfoProto ToValueInfo(ValueInfo v)
    {
        var tt = new TypeProto.Types.Tensor { ElemType = (int)v.Type };
        if (v.Shape is { } shape)
        {
            tt.Shape = new TensorShapeProto();
            foreach (var d in shape)
                tt.Shape.Dim.Add(d.IsKnown
                    ? new TensorShapeProto.Types.Dimension { DimValue = d.Factor }
                    : new TensorShapeProto.Types.Dimension { DimParam = d.ToString() });
        }
        return new ValueInfoProto { Name = v.Name, Type = new TypeProto { TensorType = tt } };
    }

    private static NodeProto ToNode(Node n)
    {
        var p = new NodeProto { Name = n.Name, OpType = n.OpType, Domain = n.Domain };
        p.Input.AddRange(n.Inputs);
        p.Output.AddRange(n.Outputs);
        foreach (var (name, a) in n.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            var ap = new AttributeProto { Name = name };
            switch (a.Kind)
            {
                case AttributeKind.Float: ap.Type = AttributeProto.Types.AttributeType.Float; ap.F = a.Float; break;
                case AttributeKind.Int: ap.Type = AttributeProto.Types.AttributeType.Int; ap.I = a.Int; break;
                case AttributeKind.String: ap.Type = AttributeProto.Types.AttributeType.String; ap.S = ByteString.CopyFromUtf8(a.String ?? ""); break;
                case AttributeKind.Floats: ap.Type = AttributeProto.Types.AttributeType.Floats; ap.Floats.AddRange(a.Floats ?? []); break;
                case AttributeKind.Ints: ap.Type = AttributeProto.Types.AttributeType.Ints; ap.Ints.AddRange(a.Ints ?? []); break;
                case AttributeKind.Strings:
                    ap.Type = AttributeProto.Types.AttributeType.Strings;
                    ap.Strings.AddRange((a.Strings ?? []).Select(ByteString.CopyFromUtf8));
                    break;
                case AttributeKind.Tensor:
                    ap.Type = AttributeProto.Types.AttributeType.Tensor;
                    ap.T = OnnxTensors.ToProto(a.Tensor ?? throw Bad(n, name, "has no tensor"), "");
                    break;
                default: throw Bad(n, name, $"is of kind {a.Kind}, which cannot be exported");
            }
            p.Attribute.Add(ap);
        }
        return p;
    }

    private static TrtNativeException Bad(Node n, string attr, string why) =>
        new(ErrorCode.Unsupported, $"node '{n.Name}' ({n.QualifiedOp}) attribute '{attr}' {why}");
}
