using System.Security.Cryptography;
using System.Text;

namespace Orleans.GoalGpt.Silo.Operations;

/// <summary>Dashboard credentials (section <c>Dashboard</c>); when both are set, /dashboard asks for them.</summary>
public sealed class DashboardAccessOptions
{
    public const string Section = "Dashboard";

    public string? Username { get; set; }

    /// <summary>Secret: from the environment (<c>Dashboard__Password</c>), never committed.</summary>
    public string? Password { get; set; }

    public bool Protected => !string.IsNullOrEmpty(Username) && !string.IsNullOrEmpty(Password);
}

/// <summary>HTTP Basic authentication for the dashboard routes, compared in constant time.</summary>
internal sealed class DashboardAuthFilter(DashboardAccessOptions options) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (!options.Protected || Authorized(context.HttpContext.Request.Headers.Authorization.ToString()))
        {
            return await next(context);
        }

        context.HttpContext.Response.Headers.WWWAuthenticate = "Basic realm=\"orleans-dashboard\"";
        return Results.Unauthorized();
    }

    private bool Authorized(string header)
    {
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
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
