using System.Globalization;

namespace Orleans.GoalGpt.Operations;

/// <summary>
/// Where an HTTP host listens, and the <c>healthcheck</c> command that asks it. Shared by the silo
/// and the simulator (linked source): their container images have no wget or curl, so the
/// executable probes itself.
/// </summary>
internal static class HostUrls
{
    /// <summary>
    /// Listens on <paramref name="fallback"/> (loopback) unless the listening address is configured:
    /// <c>Urls</c> (appsettings, environment, command line), <c>ASPNETCORE_URLS</c> (what the image
    /// sets) or <c>ASPNETCORE_HTTP_PORTS</c>. The default lives here, not in appsettings.json,
    /// because appsettings.json outranks the ASPNETCORE_-prefixed variables an image sets.
    /// </summary>
    public static void DefaultTo(WebApplicationBuilder builder, string fallback)
    {
        if (Configured(builder.Configuration) is null) builder.WebHost.UseUrls(fallback);
    }

    /// <summary>The URL to probe: the first http listening URL, a wildcard host asked on 127.0.0.1.</summary>
    public static Uri ProbeUri(IConfiguration configuration, string fallback, string path)
    {
        var urls = Configured(configuration) is { } configured
            ? configured
            : fallback;
        var candidates = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var first = candidates.FirstOrDefault(u => u.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) ?? candidates.FirstOrDefault() ?? fallback;
        if (!first.Contains("://", StringComparison.Ordinal))
        {
            // ASPNETCORE_HTTP_PORTS: a port list, every address
            first = $"http://*:{first}";
        }

        // Kestrel's wildcards are not addresses a client can connect to: ask on loopback.
        foreach (var wildcard in new[] { "://+:", "://*:", "://0.0.0.0:", "://[::]:" })
        {
            first = first.Replace(wildcard, "://127.0.0.1:", StringComparison.Ordinal);
        }

        return new Uri(new Uri(first.TrimEnd('/') + "/"), path.TrimStart('/'));
    }

    /// <summary>
    /// The <c>healthcheck</c> command: 0 when <paramref name="path"/> of the running process answers
    /// 200, else 1 with a one-line reason on stderr (what a container healthcheck shows).
    /// </summary>
    public static async Task<int> ProbeAsync(IConfiguration configuration, string fallback, string path)
    {
        Uri uri;
        try
        {
            uri = ProbeUri(configuration, fallback, path);
        }
        catch (UriFormatException ex)
        {
            await Console.Error.WriteLineAsync($"unhealthy: listening address not understood (Urls / ASPNETCORE_URLS): {ex.Message}");
            return 1;
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(4) };
        try
        {
            using var response = await http.GetAsync(uri);
            if ((int)response.StatusCode == 200) return 0;
            var body = await response.Content.ReadAsStringAsync();
            await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"unhealthy: {uri} answered {(int)response.StatusCode}: {body[..Math.Min(body.Length, 300)]}"));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            await Console.Error.WriteLineAsync($"unhealthy: {uri}: {ex.Message}");
        }

        return 1;
    }

    private static string? Configured(IConfiguration configuration) =>
        configuration["urls"] is { Length: > 0 } urls ? urls
        : configuration["http_ports"] is { Length: > 0 } ports ? ports
        : null;
}
