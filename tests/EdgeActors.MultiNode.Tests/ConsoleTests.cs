using System.Diagnostics;
using System.Globalization;
using EdgeActors.Client;
using EdgeActors.Client.Security;
using EdgeActors.Learning.Models;
using EdgeActors.Messages;
using EdgeActors.Nodes.Data;
using EdgeActors.Nodes.Hosting;
using EdgeActors.Nodes.Simulation;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using Xunit.Abstractions;

namespace EdgeActors.MultiNode.Tests;

/// <summary>
/// The web console (docs/console.md) of a real 4-node cluster, read by a browser nobody here wrote: Debian's chromium,
/// headless, driven through Debian's chromedriver by Selenium, while devices stream through the client library. The
/// test's CA is self-signed, so chromium runs with <c>--ignore-certificate-errors</c>; the POST check uses curl with
/// <c>--cacert</c> (the CA verified).
/// </summary>
public sealed class ConsoleTests(ITestOutputHelper output)
{
    private static async Task<(int Status, string Body)> CurlPost(string url, string caFile)
    {
        var psi = new ProcessStartInfo("/usr/bin/curl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-sS", "--max-time", "10", "--cacert", caFile, "-X", "POST", "-w", "\n%{http_code}", url }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = await p.StandardOutput.ReadToEndAsync();
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"curl exit {p.ExitCode}: {stderr}");
        var cut = stdout.LastIndexOf('\n');
        return (int.Parse(stdout[(cut + 1)..], CultureInfo.InvariantCulture), stdout[..Math.Max(0, cut)]);
    }

    private static ChromeDriver Browser()
    {
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver");
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--ignore-certificate-errors", "--window-size=1400,1000");
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    /// <summary>A token of the cluster's signing key with only the device scopes (ingest, query): no admin.</summary>
    private static string ReaderToken(LocalCluster cluster) =>
        ClientTokens.Issue(ClientTokens.LoadKey(Path.Combine(cluster.CertsDirectory, Certificates.TokenKeyFile)),
            new ClientClaims("reader", [ClientTokens.Ingest, ClientTokens.Query], "", DateTimeOffset.UtcNow.AddHours(1)));

    [Fact]
    public async Task Console_should_show_members_rising_readings_models_per_node_and_device_search_and_refuse_actions_without_admin()
    {
        await using var h = await HttpCluster.StartAsync("console", output);
        var cluster = h.Cluster;
        var client = h.Client;
        var ca = h.CaFile;
        ChromeDriver? browser = null;
        try
        {
            // a model in the registry under the name the gateway nodes serve, so they load it (untrained: no frame is classified here)
            await client.PublishModelAsync(new PublishModel("fmnist-mlp", MlpOnnx.Export(new Mlp([784, 8, 10], 3)), [784], FashionLabels.Names, "for the console test"));
            const int devices = 12; // console-00 … console-11
            h.Stream("console-", devices);

            var edge1 = h.Url("edge1");
            browser = Browser();
            browser.Navigate().GoToUrl(edge1);
            var wait = new WebDriverWait(browser, TimeSpan.FromSeconds(40)) { PollingInterval = TimeSpan.FromMilliseconds(250) };
            wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException)); // live updates replace rows between finding and reading them
            // the models table is redrawn by live updates: a row's button found a moment ago may have been replaced by its
            // identical successor, so find and click in one step, again if it went stale (as a user clicks what is there)
            void ClickModelButton(string css) => wait.Until(b =>
            {
                try
                {
                    b.FindElement(By.CssSelector(css)).Click();
                    return true;
                }
                catch (StaleElementReferenceException)
                {
                    return false;
                }
            });
            try
            {
                // 4 members, all Up
                wait.Until(b => b.FindElement(By.Id("member-count")).Text == "4"
                                && b.FindElements(By.CssSelector("#members td.Up")).Count == 4);
                output.WriteLine("members: " + browser.FindElement(By.Id("members")).Text.Replace('\n', ' '));

                // the reading count rises between two reads of the page
                long Readings() => long.Parse(browser.FindElement(By.Id("readings-total")).Text, CultureInfo.InvariantCulture);
                wait.Until(_ => Readings() > 0);
                var first = Readings();
                wait.Until(_ => Readings() > first);
                output.WriteLine($"readings: {first} then {Readings()}");

                // the published model, with its version
                wait.Until(b => b.FindElements(By.CssSelector("#models tr[data-model='fmnist-mlp']")).Count == 1);
                var row = browser.FindElement(By.CssSelector("#models tr[data-model='fmnist-mlp']"));
                output.WriteLine("model row: " + row.Text);
                Assert.Contains("fmnist-mlp", row.Text);

                // what each gateway node serves, and on which provider: datacenter and both edges, each with the published
                // version loaded on its execution provider (the panel refreshes every 10 s)
                var gateways = new[] { "datacenter", "edge1", "edge2" }.Select(cluster.AddressOf).ToArray();
                var slow = new WebDriverWait(browser, TimeSpan.FromSeconds(60)) { PollingInterval = TimeSpan.FromMilliseconds(500) };
                slow.Until(b => gateways.All(a => b.FindElements(By.CssSelector($"#model-nodes tr[data-node='{a}'] td")) is { Count: 3 } cells
                                                  && cells[2].Text.Contains("fmnist-mlp v1", StringComparison.Ordinal)
                                                  && (cells[1].Text == "CPU" || cells[1].Text == "CUDA")));
                output.WriteLine("models per node: " + string.Join(" | ", browser.FindElements(By.CssSelector("#model-nodes tr")).Select(r => r.Text)));
                Assert.Equal(3, browser.FindElements(By.CssSelector("#model-nodes tr")).Count);

                // device search by prefix: "console-1" finds console-10 and console-11, "console-" all twelve, each with its health
                string[] Search(string prefix)
                {
                    var q = browser.FindElement(By.Id("device-q"));
                    q.Clear();
                    q.SendKeys(prefix);
                    browser.FindElement(By.CssSelector("#device-form button")).Click();
                    wait.Until(b => b.FindElement(By.Id("device-summary")).Text.Contains($"starting with \"{prefix}\"", StringComparison.Ordinal));
                    return browser.FindElements(By.CssSelector("#device-results tr")).Select(r => r.GetAttribute("data-device")!).ToArray();
                }
                Assert.Equal(["console-10", "console-11"], Search("console-1"));
                wait.Until(_ => Search("console-").Length == devices);
                var results = browser.FindElement(By.Id("device-results")).Text;
                output.WriteLine("search 'console-': " + browser.FindElement(By.Id("device-summary")).Text + "\n" + results);
                Assert.Contains("unknown", results); // no hardware adapter reports for these devices
                var edgeHosts = new[] { "edge1", "edge2" }.Select(n => cluster.Specs.Single(x => x.Name == n).HostPort).ToArray();
                Assert.All(browser.FindElements(By.CssSelector("#device-results tr")), r => Assert.Contains(r.FindElements(By.TagName("td"))[1].Text, edgeHosts));

                // rollback without a token: refused, and the page says so
                ClickModelButton("#models tr[data-model='fmnist-mlp'] button.rollback");
                wait.Until(b => b.FindElement(By.Id("action-result")).Text.Length > 0);
                var result = browser.FindElement(By.Id("action-result"));
                output.WriteLine("action: " + result.Text);
                Assert.Contains("refused 401", result.Text);
                Assert.Equal("error", result.GetAttribute("class"));

                // with a token lacking the admin scope (device scopes only): refused with 403 on the page
                browser.FindElement(By.Id("token")).SendKeys(ReaderToken(cluster));
                ClickModelButton("#models tr[data-model='fmnist-mlp'] button.pin");
                wait.Until(b => b.FindElement(By.Id("action-result")).Text.Contains("refused 403", StringComparison.Ordinal));
                output.WriteLine("action with a device token: " + browser.FindElement(By.Id("action-result")).Text);
                Assert.Equal("error", browser.FindElement(By.Id("action-result")).GetAttribute("class"));

                // with the client's token (all scopes, admin included) typed into the page: the pin is done
                browser.FindElement(By.Id("token")).Clear();
                browser.FindElement(By.Id("token")).SendKeys(cluster.ClientCredentials!.Token!);
                ClickModelButton("#models tr[data-model='fmnist-mlp'] button.pin");
                wait.Until(b => b.FindElement(By.Id("action-result")).GetAttribute("class") == "ok");
                var done = browser.FindElement(By.Id("action-result")).Text;
                output.WriteLine("action with token: " + done);
                Assert.Contains("pinned 1", done);
                wait.Until(b => b.FindElement(By.CssSelector("#models tr[data-model='fmnist-mlp']")).Text.Contains("pin active", StringComparison.Ordinal)
                                && b.FindElements(By.CssSelector("#models tr[data-model='fmnist-mlp'] td"))[3].Text == "1");
                // back to the refusal for the screenshot
                browser.FindElement(By.Id("token")).Clear();
                ClickModelButton("#models tr[data-model='fmnist-mlp'] button.rollback");
                wait.Until(b => b.FindElement(By.Id("action-result")).Text.Contains("refused 401", StringComparison.Ordinal));

                var png = Environment.GetEnvironmentVariable("EDGEACTORS_CONSOLE_PNG") ?? Path.Combine(h.Directory, "console.png");
                browser.GetScreenshot().SaveAsFile(png);
                output.WriteLine("screenshot: " + png);
            }
            catch (WebDriverTimeoutException)
            {
                output.WriteLine("page when the wait ran out:\n" + browser.FindElement(By.TagName("body")).Text);
                throw;
            }

            // the same POSTs with curl (CA verified): 401 JSON errors
            foreach (var action in new[] { "models/fmnist-mlp/rollback", "models/fmnist-mlp/pin?version=1" })
            {
                var (status, body) = await CurlPost(edge1 + "api/console/" + action, ca);
                output.WriteLine($"curl POST {action}: {status} {body}");
                Assert.Equal(401, status);
                Assert.Contains("\"error\"", body);
            }
        }
        finally
        {
            browser?.Quit();
            browser?.Dispose();
        }
    }

    [Fact]
    public async Task Console_should_show_a_node_down_alert_live_when_an_edge_is_killed()
    {
        await using var h = await HttpCluster.StartAsync("console-alert", output);
        ChromeDriver? browser = null;
        try
        {
            h.Stream("alert-", 4);
            browser = Browser();
            browser.Navigate().GoToUrl(h.Url("edge1"));
            var wait = new WebDriverWait(browser, TimeSpan.FromSeconds(60)) { PollingInterval = TimeSpan.FromMilliseconds(250) };
            try
            {
                wait.Until(b => b.FindElement(By.Id("live")).Text == "live" && b.FindElements(By.CssSelector("#members td.Up")).Count == 4);
                var edge2 = h.Cluster.AddressOf("edge2");
                Assert.DoesNotContain(browser.FindElements(By.CssSelector("#alerts li")), li => li.Text.Contains("node down", StringComparison.Ordinal));

                h.Cluster["edge2"].KillHard(); // SIGKILL: no leave, the others' failure detectors notice
                // the page is not reloaded: the alert arrives with a live tick
                wait.Until(b => b.FindElements(By.CssSelector("#alerts li")).Any(li => li.Text.Contains("node down", StringComparison.Ordinal) && li.Text.Contains(edge2, StringComparison.Ordinal)));
                var alert = browser.FindElements(By.CssSelector("#alerts li")).First(li => li.Text.Contains("node down", StringComparison.Ordinal)).Text;
                output.WriteLine("alert: " + alert);
                // and the cluster table marks it
                wait.Until(b => b.FindElements(By.CssSelector("#members td.Unreachable, #members td.Down")).Count >= 1);
            }
            catch (WebDriverTimeoutException)
            {
                output.WriteLine("page when the wait ran out:\n" + browser.FindElement(By.TagName("body")).Text);
                throw;
            }
        }
        finally
        {
            browser?.Quit();
            browser?.Dispose();
        }
    }
}
