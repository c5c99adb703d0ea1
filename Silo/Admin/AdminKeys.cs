using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Orleans.GoalGpt.Silo.Admin;

/// <summary>
/// The admin keys (<c>Admin__Keys__&lt;name&gt;=sha256:&lt;64 hex&gt;</c>): only the SHA-256 of each key is configured,
/// never the key. A presented bearer key is hashed and compared with every configured hash in constant time.
/// A key is a high-entropy random string (≥ 32 characters, e.g. 32 random bytes in base64), so a plain, unsalted
/// hash is enough: nothing guessable is behind it.
/// </summary>
public sealed partial class AdminKeys
{
    public const string Prefix = "sha256:";
    public const int MinKeyLength = 32;
    private readonly IReadOnlyList<(string Name, byte[] Hash)> _keys;

    private AdminKeys(IReadOnlyList<(string Name, byte[] Hash)> keys, TimeSpan correctionWriteTimeout)
    {
        _keys = keys;
        CorrectionWriteTimeout = correctionWriteTimeout;
    }

    /// <summary>How long a correction waits for its row before answering 503 (<c>Admin__CorrectionWriteTimeout</c>, 5 s).</summary>
    public TimeSpan CorrectionWriteTimeout { get; }

    public int Count => _keys.Count;

    /// <summary>Reads and validates section <c>Admin</c>; the message names the setting at fault (never its value).</summary>
    public static AdminKeys From(IConfiguration configuration)
    {
        var errors = new List<string>();
        var keys = new List<(string, byte[])>();
        foreach (var entry in configuration.GetSection("Admin:Keys").GetChildren())
        {
            var setting = $"Admin__Keys__{entry.Key}";
            if (!NamePattern().IsMatch(entry.Key))
            {
                errors.Add($"{setting}: the key name must be 1..64 characters of [A-Za-z0-9_-].");
                continue;
            }

            var value = entry.Value?.Trim() ?? "";
            if (!value.StartsWith(Prefix, StringComparison.Ordinal) || !HexPattern().IsMatch(value[Prefix.Length..]))
            {
                errors.Add($"{setting} must be the key's hash, 'sha256:' and 64 hex digits (make one with: printf %s \"$KEY\" | dotnet Orleans.GoalGpt.Silo.dll hash-admin-key); the value given is not.");
                continue;
            }

            keys.Add((entry.Key, Convert.FromHexString(value[Prefix.Length..])));
        }

        var timeout = TimeSpan.FromSeconds(5);
        if (configuration["Admin:CorrectionWriteTimeout"] is { Length: > 0 } raw
            && (!TimeSpan.TryParse(raw, System.Globalization.CultureInfo.InvariantCulture, out timeout) || timeout < TimeSpan.FromMilliseconds(100) || timeout > TimeSpan.FromSeconds(20)))
        {
            errors.Add($"Admin__CorrectionWriteTimeout must be a time span between 00:00:00.100 and 00:00:20 (was '{raw}').");
        }

        if (errors.Count > 0) throw new OptionsValidationException("Admin", typeof(AdminKeys), errors);
        return new AdminKeys(keys, timeout);
    }

    /// <summary>The name of the admin key <paramref name="presented"/> is, or null. Every configured hash is compared (constant time each).</summary>
    public string? Match(string presented)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        string? name = null;
        foreach (var (n, h) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, h)) name ??= n;
        }

        return name;
    }

    /// <summary>The setting's value for <paramref name="key"/>: <c>sha256:</c> and the lowercase hex of its SHA-256.</summary>
    public static string Hash(string key) => Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>
    /// The <c>hash-admin-key</c> command: reads a key from standard input (never from the command line, where
    /// other users' <c>ps</c> would see it) and prints only its hash.
    /// </summary>
    public static int HashCommand(TextReader input, TextWriter output, TextWriter error)
    {
        var key = input.ReadToEnd().TrimEnd('\r', '\n');
        if (key.Length < MinKeyLength)
        {
            error.WriteLine($"error: an admin key must be at least {MinKeyLength} characters of random data (e.g. head -c 32 /dev/urandom | base64); nothing printed.");
            return 2;
        }

        output.WriteLine(Hash(key));
        return 0;
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex HexPattern();
}
