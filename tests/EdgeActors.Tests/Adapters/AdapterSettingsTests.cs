using Akka.Configuration;
using EdgeActors.Actors.Adapters;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Adapters;

public sealed class AdapterSettingsTests
{
    private static AdapterSettings Parse(string hocon) =>
        AdapterSettings.FromConfig(ConfigurationFactory.ParseString(hocon).GetConfig("edgeactors.adapters"), "hw-4055-");

    [Fact]
    public void Base_conf_section_should_parse_to_the_defaults_with_adapters_off()
    {
        var baseConf = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "hocon", "base.conf")));

        var s = AdapterSettings.FromConfig(baseConf.GetConfig(AdapterSettings.ConfigPath), "hw-4055-");

        Assert.False(s.Enabled);
        Assert.Equal(["hw-4055-sensor-00", "hw-4055-sensor-01", "hw-4055-sensor-02", "hw-4055-sensor-03"], s.Devices);
        Assert.Equal(TimeSpan.FromMilliseconds(500), s.ReadTimeout);
        Assert.Equal(0, s.Faults.Total);
        Assert.Equal(TimeSpan.FromSeconds(2), s.Faults.DisconnectDuration);
    }

    [Fact]
    public void Set_lines_should_configure_devices_and_faults()
    {
        var s = Parse("""
            edgeactors.adapters { enabled = on, read-interval = 50ms }
            edgeactors.adapters.devices { count = 2, prefix = "e1-" }
            edgeactors.adapters.faults { exception = 0.02, hang = 0.01, garbage = 0.05, disconnect = 0.01, clock-jump = 0.01, disconnect-duration = 1s }
            edgeactors.adapters.backoff { min = 100ms, max = 1s, random-factor = 0.1 }
            """);

        Assert.True(s.Enabled);
        Assert.Equal(["e1-sensor-00", "e1-sensor-01"], s.Devices);
        Assert.Equal(TimeSpan.FromMilliseconds(50), s.ReadInterval);
        Assert.Equal(0.02, s.Faults.Exception);
        Assert.Equal(0.05, s.Faults.Garbage);
        Assert.Equal(TimeSpan.FromSeconds(1), s.Faults.DisconnectDuration);
        Assert.Equal(TimeSpan.FromMilliseconds(100), s.Backoff.Min);
    }

    [Fact]
    public void Device_list_should_override_count_and_prefix()
    {
        var s = Parse("""edgeactors.adapters.devices { count = 9, list = ["a", "b"] }""");

        Assert.Equal(["a", "b"], s.Devices);
    }

    [Theory]
    [InlineData("edgeactors.adapters.faults.hang = 1.5", "edgeactors.adapters.faults.hang")]
    [InlineData("edgeactors.adapters.faults { exception = 0.6, garbage = 0.6 }", "edgeactors.adapters.faults")]
    [InlineData("edgeactors.adapters.read-timeout = soon", "edgeactors.adapters.read-timeout")]
    [InlineData("edgeactors.adapters.batch-size = 0", "edgeactors.adapters.batch-size")]
    [InlineData("edgeactors.adapters.enabled = maybe", "edgeactors.adapters.enabled")]
    [InlineData("edgeactors.adapters.backoff { min = 5s, max = 1s }", "edgeactors.adapters.backoff.max")]
    [InlineData("edgeactors.adapters { offline-after = 500ms, max-batch-delay = 1s }", "edgeactors.adapters.offline-after")]
    [InlineData("edgeactors.adapters.devices.list = [\"a\", \"a\"]", "edgeactors.adapters.devices.list")]
    [InlineData("edgeactors.adapters.devices.list = sensor-a", "edgeactors.adapters.devices.list")]
    [InlineData("edgeactors.adapters.devices.count = -1", "edgeactors.adapters.devices.count")]
    public void Bad_value_should_fail_naming_the_key(string hocon, string key)
    {
        var ex = Assert.Throws<ArgumentException>(() => Parse(hocon));

        Assert.StartsWith(key + " = ", ex.Message);
    }

    [Fact]
    public void Simulated_sensor_should_inject_the_same_faults_for_the_same_seed()
    {
        var faults = new HardwareFaults(Exception: 0.1, Garbage: 0.1, ClockJump: 0.1, ClockJumpSize: TimeSpan.FromHours(1));
        static string Trace(SimulatedSensor s)
        {
            s.Connect();
            var trace = new List<string>();
            for (var i = 0; i < 200; i++)
            {
                try
                {
                    var r = s.Read();
                    trace.Add(r.Values.Any(v => !float.IsFinite(v) || v >= SimulatedSensor.GarbageValue) ? "g" : ".");
                }
                catch (SensorReadException)
                {
                    trace.Add("x");
                }
            }
            return string.Concat(trace);
        }

        var a = Trace(new SimulatedSensor(3, faults, 7));
        var b = Trace(new SimulatedSensor(3, faults, 7));
        var c = Trace(new SimulatedSensor(3, faults, 8));

        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Contains("x", a);
        Assert.Contains("g", a);
    }
}
