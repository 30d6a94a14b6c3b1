using Microsoft.OpenApi;

namespace TrtNative.Server.Api;

/// <summary>
/// Request bodies for the OpenAPI document only. <c>Accepts&lt;T&gt;</c> would also make routing refuse other
/// content types with 415, and DeepDetect clients post JSON with any content type (curl -d sends a form's), while
/// KServe infer takes JSON or the binary tensor extension; so the body is described, never enforced.
/// </summary>
internal static class OpenApiBodies
{
    /// <summary>Documents the request body as <typeparamref name="T"/> under each of <paramref name="contentTypes"/>.</summary>
    public static RouteHandlerBuilder DescribesBody<T>(this RouteHandlerBuilder b, params string[] contentTypes) =>
        b.AddOpenApiOperationTransformer(async (op, ctx, ct) =>
        {
            var schema = await ctx.GetOrCreateSchemaAsync(typeof(T), null, ct);
            var body = new OpenApiRequestBody { Required = true, Content = new Dictionary<string, OpenApiMediaType>() };
            foreach (var c in contentTypes) body.Content[c] = new OpenApiMediaType { Schema = schema };
            op.RequestBody = body;
        });
}
