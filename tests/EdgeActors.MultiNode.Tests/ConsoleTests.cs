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

    [Fact]
    public async Task Console_should_show_members_rising_readings_and_models_and_refuse_an_action_without_a_token_but_pin_with_one()
    {
        var p = Ports.Free(8);
        var dir = TestCluster.FreshDirectory("console", p[0]);
        var cluster = new LocalCluster(
        [
            new NodeSpec("seed", "seed", p[0]) { HttpPort = p[4] },
            new NodeSpec("datacenter", "datacenter", p[1]) { HttpPort = p[5] },
            new NodeSpec("edge1", "edge", p[2]) { HttpPort = p[6] },
            new NodeSpec("edge2", "edge", p[3]) { HttpPort = p[7] },
        ], dir);
        var ca = Path.Combine(cluster.CertsDirectory, Certificates.CaCertificateFile);
        EdgeClient? client = null;
        ChromeDriver? browser = null;
        using var stop = new CancellationTokenSource();
        Task? streaming = null;
        try
        {
            cluster.StartAll();
            client = EdgeClient.Connect(TestCluster.ClientOptions(cluster, p[2], p[3]) with
            {
                RequestTimeout = TimeSpan.FromSeconds(5),
                RetryDeadline = TimeSpan.FromSeconds(60),
            });
            Assert.True(await ClusterProbe.WaitForMembersAsync(client, cluster, 4, TimeSpan.FromSeconds(90)) is not null, "cluster did not form; logs in " + dir);
            // a model in the registry (untrained: the console shows it, nothing infers with it)
            await client.PublishModelAsync(new PublishModel("console-mlp", MlpOnnx.Export(new Mlp([784, 8, 10], 3)), [784], FashionLabels.Names, "for the console test"));

            const int devices = 12;
            var c = client;
            streaming = Task.WhenAll(Enumerable.Range(0, devices).Select(async d =>
            {
                var g = new TelemetryGenerator(new DeviceId($"console-{d:D2}"), 4, FaultSettings.None, d + 1);
                for (var b = 0; !stop.IsCancellationRequested; b++)
                {
                    await c.SendTelemetryAsync(g.NextBatch(5, 1_700_000_000_000 + b * 1000L, 10));
                    try { await Task.Delay(50, stop.Token); } catch (OperationCanceledException) { }
                }
            }));

            var edge1 = cluster.Specs.Single(s => s.Name == "edge1").HttpUrl(cluster.Secure)!;
            browser = Browser();
            browser.Navigate().GoToUrl(edge1);
            var wait = new WebDriverWait(browser, TimeSpan.FromSeconds(40)) { PollingInterval = TimeSpan.FromMilliseconds(250) };

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
            wait.Until(b => b.FindElements(By.CssSelector("#models tr[data-model='console-mlp']")).Count == 1);
            var row = browser.FindElement(By.CssSelector("#models tr[data-model='console-mlp']"));
            output.WriteLine("model row: " + row.Text);
            Assert.Contains("console-mlp", row.Text);

            // rollback without a token: refused, and the page says so
            row.FindElement(By.CssSelector("button.rollback")).Click();
            wait.Until(b => b.FindElement(By.Id("action-result")).Text.Length > 0);
            var result = browser.FindElement(By.Id("action-result"));
            output.WriteLine("action: " + result.Text);
            Assert.Contains("refused 401", result.Text);
            Assert.Equal("error", result.GetAttribute("class"));

            // with the client's token (all scopes, admin included) typed into the page: the pin is done
            browser.FindElement(By.Id("token")).SendKeys(cluster.ClientCredentials!.Token!);
            browser.FindElement(By.CssSelector("#models tr[data-model='console-mlp'] button.pin")).Click();
            wait.Until(b => b.FindElement(By.Id("action-result")).GetAttribute("class") == "ok");
            var done = browser.FindElement(By.Id("action-result")).Text;
            output.WriteLine("action with token: " + done);
            Assert.Contains("pinned 1", done);
            wait.Until(b => b.FindElement(By.CssSelector("#models tr[data-model='console-mlp']")).Text.Contains("pin active", StringComparison.Ordinal)
                            && b.FindElements(By.CssSelector("#models tr[data-model='console-mlp'] td"))[3].Text == "1");
            // back to the refusal for the screenshot
            browser.FindElement(By.Id("token")).Clear();
            browser.FindElement(By.CssSelector("#models tr[data-model='console-mlp'] button.rollback")).Click();
            wait.Until(b => b.FindElement(By.Id("action-result")).Text.Contains("refused 401", StringComparison.Ordinal));

            var png = Environment.GetEnvironmentVariable("EDGEACTORS_CONSOLE_PNG") ?? Path.Combine(dir, "console.png");
            browser.GetScreenshot().SaveAsFile(png);
            output.WriteLine("screenshot: " + png);

            // the same POSTs with curl (CA verified): 401 JSON errors
            foreach (var action in new[] { "models/console-mlp/rollback", "models/console-mlp/pin?version=1" })
            {
                var (status, body) = await CurlPost(edge1 + "api/console/" + action, ca);
                output.WriteLine($"curl POST {action}: {status} {body}");
                Assert.Equal(401, status);
                Assert.Contains("\"error\"", body);
            }
        }
        catch (WebDriverTimeoutException)
        {
            output.WriteLine("page when the wait ran out:\n" + browser?.FindElement(By.TagName("body")).Text);
            throw;
        }
        finally
        {
            browser?.Quit();
            browser?.Dispose();
            await stop.CancelAsync();
            if (streaming is not null) { try { await streaming; } catch (Exception ex) { output.WriteLine("streaming ended: " + ex.Message); } }
            await TestCluster.StopAsync(client, cluster, output);
        }
    }
}
