using EdgeActors.Actors.Adapters;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Adapters;

/// <summary>Settings for one simulated sensor's adapter and uplink in the TestKit tests: fast reads, small batches.</summary>
internal static class AdapterTestSettings
{
    public static AdapterSettings For(DeviceId device, long maxReadings) => new()
    {
        Enabled = true,
        Devices = [device.Value],
        Channels = 2,
        ReadInterval = TimeSpan.FromMilliseconds(10),
        // generous: a healthy read must never look like a hang, even on a machine that stalls for a second or two
        // (a spurious hang would add a restart); the tests with scripted hangs set a shorter one
        ReadTimeout = TimeSpan.FromSeconds(10),
        BatchSize = 5,
        MaxBatchDelay = TimeSpan.FromMilliseconds(100),
        AckTimeout = TimeSpan.FromSeconds(1),
        MaxReadings = maxReadings,
        ReportInterval = TimeSpan.FromMilliseconds(100),
        RecoverAfter = 3,
        OfflineAfter = TimeSpan.FromSeconds(2),
        ClockJumpThreshold = TimeSpan.FromSeconds(30),
        Faults = new HardwareFaults(DisconnectDuration: TimeSpan.FromMilliseconds(300), ClockJumpSize: TimeSpan.FromHours(1)),
        Backoff = new AdapterBackoff(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100), 0.2, TimeSpan.FromSeconds(10)),
    };
}
