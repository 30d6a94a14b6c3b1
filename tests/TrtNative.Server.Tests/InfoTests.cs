using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit;

namespace TrtNative.Server.Tests;

public class InfoTests(WebApplicationFactory<Program> factory) : IClassFixture<WebApplicationFactory<Program>>
{
    [Fact]
    public async Task InfoAnswers()
    {
        var r = await factory.CreateClient().GetAsync("/info");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Contains("\"/info\"", await r.Content.ReadAsStringAsync());
    }
}
