using System.Globalization;

namespace Orleans.GoalGpt.Chaos;

/// <summary>A silo's Prometheus page: samples by name and labels.</summary>
internal sealed class Metrics
{
    private readonly List<(string Name, Dictionary<string, string> Labels, double Value)> _samples = [];

    public static Metrics Parse(string text)
    {
        var m = new Metrics();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var space = line.LastIndexOf(' ');
            string name;
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (brace >= 0 && brace < space)
            {
                name = line[..brace];
                var close = line.LastIndexOf('}');
                foreach (var pair in line[(brace + 1)..close].Split("\",", StringSplitOptions.RemoveEmptyEntries))
                {
                    var eq = pair.IndexOf('=', StringComparison.Ordinal);
                    if (eq > 0) labels[pair[..eq].Trim(',', ' ')] = pair[(eq + 1)..].Trim('"');
                }

                space = line.IndexOf(' ', close);
            }
            else
            {
                name = line[..line.IndexOf(' ', StringComparison.Ordinal)];
                space = name.Length;
            }

            var value = line[(space + 1)..].Split(' ')[0];
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) m._samples.Add((name, labels, v));
        }

        return m;
    }

    /// <summary>Sum of every sample of <paramref name="name"/> whose labels include <paramref name="where"/>.</summary>
    public double Sum(string name, params (string Key, string Value)[] where) =>
        _samples.Where(s => s.Name == name && where.All(w => s.Labels.TryGetValue(w.Key, out var v) && v == w.Value)).Sum(s => s.Value);

    /// <summary>Cumulative bucket counts of a histogram (all label sets added), by upper bound.</summary>
    public SortedDictionary<double, double> Buckets(string name)
    {
        var buckets = new SortedDictionary<double, double>();
        foreach (var s in _samples.Where(s => s.Name == name + "_bucket"))
        {
            var le = s.Labels.TryGetValue("le", out var l) ? l : "+Inf";
            var bound = le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture);
            buckets[bound] = buckets.GetValueOrDefault(bound) + s.Value;
        }

        return buckets;
    }

    /// <summary>The quantile's bucket bound from the difference of two cumulative histograms (samples between two scrapes).</summary>
    public static double? Quantile(IEnumerable<SortedDictionary<double, double>> before, IEnumerable<SortedDictionary<double, double>> after, double q)
    {
        var delta = new SortedDictionary<double, double>();
        foreach (var b in after) foreach (var (k, v) in b) delta[k] = delta.GetValueOrDefault(k) + v;
        foreach (var b in before) foreach (var (k, v) in b) delta[k] = delta.GetValueOrDefault(k) - v;
        if (delta.Count == 0) return null;
        var total = delta.Last().Value;
        if (total <= 0) return null;
        foreach (var (bound, count) in delta)
        {
            if (count >= q * total) return bound;
        }

        return double.PositiveInfinity;
    }
}
