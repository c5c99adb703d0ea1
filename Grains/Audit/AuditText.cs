using System.Globalization;
using System.Text;

namespace Orleans.GoalGpt.Grains.Audit;

/// <summary>
/// Text from outside (a rejected provider id, a reason) made storable: PostgreSQL refuses a NUL in text (22021) and
/// a lone surrogate cannot be encoded as UTF-8, and either would cost the row its flush and its events. Control
/// characters and lone surrogates are written as <c>\uXXXX</c>; the text is capped at <see cref="MaxLength"/>.
/// </summary>
public static class AuditText
{
    public const int MaxLength = 1000;

    public static string? Safe(string? v)
    {
        if (v is null || (v.Length <= MaxLength && !v.Any(c => char.IsControl(c) || char.IsSurrogate(c)))) return v;
        var sb = new StringBuilder(Math.Min(v.Length, MaxLength) + 8);
        for (var i = 0; i < v.Length && sb.Length < MaxLength; i++)
        {
            var c = v[i];
            if (char.IsHighSurrogate(c) && i + 1 < v.Length && char.IsLowSurrogate(v[i + 1]))
            {
                sb.Append(c).Append(v[++i]);
            }
            else if (char.IsControl(c) || char.IsSurrogate(c))
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}
