using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Orleans.GoalGpt.Silo.Operations;

/// <summary>
/// The Orleans Dashboard (section <c>Dashboard</c>). It shows every grain and silo and can be
/// used to probe the cluster, so it is closed unless credentials are set: without them it refuses
/// every request, except in the local mode of <c>./run.sh</c> (anonymous from loopback only).
/// </summary>
public sealed class DashboardAccessOptions
{
    public const string Section = "Dashboard";

    /// <summary><c>false</c>: no dashboard at all (not mapped, nothing collected).</summary>
    public bool Enabled { get; set; } = true;

    public string? Username { get; set; }

    /// <summary>Secret: from the environment (<c>Dashboard__Password</c>), never committed.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// Local mode (<c>./run.sh</c> sets it): without credentials, serve requests from loopback
    /// addresses anonymously. Off by default; ignored once credentials are set.
    /// </summary>
    public bool AllowAnonymousOnLoopback { get; set; }

    public bool Protected => !string.IsNullOrEmpty(Username) && !string.IsNullOrEmpty(Password);

    /// <summary>Reads the section; a half-set pair of credentials is an error naming the missing one.</summary>
    public static DashboardAccessOptions From(IConfiguration configuration)
    {
        var options = configuration.GetSection(Section).Get<DashboardAccessOptions>() ?? new DashboardAccessOptions();
        if (options.Enabled && string.IsNullOrEmpty(options.Username) != string.IsNullOrEmpty(options.Password))
        {
            var missing = string.IsNullOrEmpty(options.Username) ? "Dashboard__Username" : "Dashboard__Password";
            throw new OptionsValidationException(Section, typeof(DashboardAccessOptions),
                [$"Missing setting {missing}: the dashboard needs both Dashboard__Username and Dashboard__Password (or Dashboard__Enabled=false)."]);
        }

        return options;
    }
}

/// <summary>What the dashboard does with one request.</summary>
public enum DashboardDecision
{
    Serve,

    /// <summary>401 with a Basic challenge: credentials missing or wrong.</summary>
    Challenge,

    /// <summary>403: no credentials configured and not in local mode.</summary>
    Refuse,
}

/// <summary>The dashboard's access rule, pure.</summary>
public static class DashboardAccess
{
    public const string RefusalMessage =
        "The Orleans Dashboard is closed: set Dashboard__Username and Dashboard__Password (or Dashboard__Enabled=false).";

    public static DashboardDecision Decide(DashboardAccessOptions options, IPAddress? remote, string? authorization)
    {
        if (options.Protected) return Authorized(options, authorization) ? DashboardDecision.Serve : DashboardDecision.Challenge;
        if (options.AllowAnonymousOnLoopback && remote is not null
            && IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote))
        {
            return DashboardDecision.Serve;
        }

        return DashboardDecision.Refuse;
    }

    /// <summary>HTTP Basic, compared in constant time.</summary>
    private static bool Authorized(DashboardAccessOptions options, string? header)
    {
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
        byte[] decoded;
        try
        {
            decoded = Convert.FromBase64String(header["Basic ".Length..].Trim());
        }
        catch (FormatException)
        {
            return false;
        }

        var expected = Encoding.UTF8.GetBytes($"{options.Username}:{options.Password}");
        return CryptographicOperations.FixedTimeEquals(decoded, expected);
    }
}

/// <summary>Applies <see cref="DashboardAccess"/> to the dashboard routes.</summary>
internal sealed class DashboardAuthFilter(DashboardAccessOptions options) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        switch (DashboardAccess.Decide(options, http.Connection.RemoteIpAddress, http.Request.Headers.Authorization.ToString()))
        {
            case DashboardDecision.Serve:
                return await next(context);
            case DashboardDecision.Challenge:
                http.Response.Headers.WWWAuthenticate = "Basic realm=\"orleans-dashboard\"";
                return Results.Unauthorized();
            default:
                return Results.Text(DashboardAccess.RefusalMessage, statusCode: StatusCodes.Status403Forbidden);
        }
    }
}
