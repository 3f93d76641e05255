using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Hosting;
using EdgeActors.Actors.Devices;
using EdgeActors.Actors.Gateway;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeActors.Tests.Composition;

/// <summary>A registration that needs another one fails the host's start, naming what is missing, instead of running without it.</summary>
public class RequiredRegistrationTests
{
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<string> Errors { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (logLevel >= LogLevel.Error) owner.Errors.Enqueue(formatter(state, exception) + "\n" + exception);
            }
        }
    }

    [Fact]
    public async Task A_gateway_composed_without_a_model_host_should_fail_at_start_naming_it()
    {
        var logs = new CapturingLoggerProvider();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Services.AddAkka("composition-test", (akka, _) =>
        {
            akka.AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend)
                .WithActors((system, registry) => registry.Register<DeviceRegion>(system.ActorOf(Props.Empty, "region")))
                // no AddModelRegistry / AddModelHost: the gateway requires both
                .AddGateway();
        });
        using var host = builder.Build();

        string failure;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await host.StartAsync(timeout.Token);
            failure = string.Join("\n", logs.Errors);
        }
        catch (Exception e)
        {
            failure = e.ToString();
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }

        Assert.Contains("ModelHostKey", failure);
        Assert.Contains("AddModelHost", failure);
        Assert.Contains("AddGateway", failure);
        Assert.False(host.Services.GetRequiredService<ActorRegistry>().TryGet<GatewayActor>(out _), "the gateway must not start without its model host");
    }
}
