using ScottPlot;

namespace Orleans.GoalGpt.Bench;

/// <summary>Updates/s of the service and the baseline per number of matches (log scale).</summary>
public static class Chart
{
    public static void Write(IReadOnlyList<RunResult> results, string path)
    {
        var plot = new Plot();
        var sizes = results.Select(r => r.Matches).Distinct().Order().ToList();
        var designs = results.Select(r => r.Design).Distinct().ToList();
        var palette = new ScottPlot.Palettes.Category10();
        var bars = new List<Bar>();
        for (var d = 0; d < designs.Count; d++)
        {
            for (var s = 0; s < sizes.Count; s++)
            {
                var r = results.FirstOrDefault(x => x.Design == designs[d] && x.Matches == sizes[s]);
                if (r is null) continue;
                bars.Add(new Bar
                {
                    Position = s * (designs.Count + 1) + d,
                    Value = Math.Log10(Math.Max(1, r.UpdatesPerSecond)),
                    FillColor = palette.GetColor(d),
                    Label = $"{r.UpdatesPerSecond:N0}",
                });
            }
        }

        var barPlot = plot.Add.Bars(bars);
        barPlot.ValueLabelStyle.FontSize = 12;
        plot.Axes.Bottom.SetTicks(
            sizes.Select((_, s) => s * (designs.Count + 1) + (designs.Count - 1) / 2.0).ToArray(),
            sizes.Select(m => $"{m:N0} matches").ToArray());
        plot.Axes.Left.Label.Text = "updates/s (log10)";
        plot.Title("Sustained updates/s: service vs. lock-per-write baseline");
        for (var d = 0; d < designs.Count; d++)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = designs[d], FillColor = palette.GetColor(d) });
        }

        plot.Legend.IsVisible = true;
        plot.Axes.Margins(bottom: 0);
        plot.SavePng(path, 900, 500);
    }
}
