using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Hoop.Tests.Support;

/// <summary>The two answers tests of the admin API look for most: created, or refused beside a field.</summary>
public static class AdminApiAssert
{
    public static async Task CreatedAsync(HttpClient admin, string path, object body)
    {
        var response = await admin.PostAsJsonAsync(path, body);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    /// <summary>400 with <paramref name="message"/> in the first error of <paramref name="field"/>.</summary>
    public static async Task RefusedAsync(HttpClient admin, string path, object body, string field, string message)
    {
        var response = await admin.PostAsJsonAsync(path, body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        var error = errors.GetProperty(field)[0].GetString()!;
        Assert.True(error.Contains(message, StringComparison.Ordinal), $"'{message}' not in: {error}");
    }
}
