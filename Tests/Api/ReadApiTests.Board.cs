using Microsoft.Playwright;
using Orleans.GoalGpt.Abstractions;
using Xunit;

namespace Orleans.GoalGpt.Tests.Api;

/// <summary>
/// The live board in a real headless browser: Debian's chromium driven by Playwright's driver from its NuGet
/// package (no browser download), on the same two-silo cluster as the other read API tests.
/// </summary>
public sealed partial class ReadApiTests
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task The_board_lists_the_live_matches_and_shows_a_goal_applied_after_load_without_a_reload()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: scripts/deps.sh installs it (apt package chromium)");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 30_000;
        var ids = new[] { "board-0", "board-1", "board-2" };
        foreach (var id in ids)
        {
            var update = new MatchUpdate
            {
                Source = UpdateSource.Api, ObservedAtMs = now, StatusId = 2, HomeScores = [0, 0, 0, 0, 0, 0, 0], AwayScores = [1, 0, 0, 0, 0, 0, 0],
                PhaseKickoffTs = now / 1000 - 1200, MatchTime = now / 1000 - 1300, CompetitionId = "cb", HomeTeamId = $"{id}-h", AwayTeamId = $"{id}-a",
            };
            Assert.True((await cluster.Grains.GetGrain<IMatchGrain>(id).Apply(update)).AnyApplied);
        }

        var profile = Directory.CreateTempSubdirectory("goalgpt-board-");
        try
        {
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchPersistentContextAsync(profile.FullName, new BrowserTypeLaunchPersistentContextOptions
            {
                ExecutablePath = Chromium,
                Headless = true,
                Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"],
                ViewportSize = new ViewportSize { Width = 1000, Height = 600 },
            });
            var page = browser.Pages.Count > 0 ? browser.Pages[0] : await browser.NewPageAsync();
            await page.GotoAsync($"http://127.0.0.1:{cluster.A.HttpPort}/");

            // Every live match listed, with teams, score, minute text and status.
            foreach (var id in ids)
            {
                var row = page.Locator($"tr[data-id=\"{id}\"]");
                await Assertions.Expect(row.Locator("td.score")).ToHaveTextAsync("0 - 1", new() { Timeout = 60_000 });
                await Assertions.Expect(row.Locator("td.home")).ToHaveTextAsync($"{id}-h");
                await Assertions.Expect(row.Locator("td.status")).ToHaveTextAsync("1st half");
                Assert.Matches("^[0-9]+$", await row.Locator("td.minute").TextContentAsync());
            }

            // Wait until the page follows the stream, then a goal on whichever silo owns the match: shown without a reload.
            await Assertions.Expect(page.Locator("body")).ToHaveAttributeAsync("data-stream", "open", new() { Timeout = 60_000 });
            var navigations = 0;
            page.FrameNavigated += (_, _) => navigations++;
            Assert.True((await cluster.Grains.GetGrain<IMatchGrain>("board-1").Apply(new MatchUpdate
            {
                Source = UpdateSource.Mqtt, ObservedAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), HomeScores = [1, 0, 0, 0, 0, 0, 0], AwayScores = [1, 0, 0, 0, 0, 0, 0],
            })).AnyApplied);
            await Assertions.Expect(page.Locator("tr[data-id=\"board-1\"] td.score")).ToHaveTextAsync("1 - 1", new() { Timeout = 60_000 });
            Assert.Equal(0, navigations);

            var results = Path.Combine(Root(), ".local", "test-results");
            Directory.CreateDirectory(results);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(results, "live-board.png"), FullPage = true });
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }

    private static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "run.sh"))) dir = dir.Parent;
        return dir?.FullName ?? AppContext.BaseDirectory;
    }
}
