using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;
using Akka.TestKit;

namespace EdgeActors.Tests;

/// <summary>
/// Akka's <see cref="TestScheduler"/> (virtual time: scheduled work runs only when a test calls <see cref="Advance"/>)
/// with every call under one lock. The TestScheduler itself is not safe against an actor scheduling while a test advances
/// time: work an actor adds for a time the advance has already reached (its delay read the clock just before the advance
/// moved it) can be dropped with the advance's batch, and a single timer lost that way never fires. Under the lock an actor
/// schedules either wholly before an advance (the advance then runs its work if it is due) or wholly after it (from the
/// new time), so nothing is lost and a test may advance while actors are busy.
/// <para>Use with <see cref="Config"/> (the test's system then has <c>Sys.Scheduler</c> of this type).</para>
/// </summary>
public sealed class VirtualTimeScheduler(Config schedulerConfig, ILoggingAdapter log) : IScheduler, IAdvancedScheduler
{
    /// <summary>The setting that makes an actor system's scheduler a <see cref="VirtualTimeScheduler"/>.</summary>
    public static Config Config { get; } = ConfigurationFactory.ParseString(
        $"akka.scheduler.implementation = \"{typeof(VirtualTimeScheduler).FullName}, {typeof(VirtualTimeScheduler).Assembly.GetName().Name}\"");

    private readonly TestScheduler _inner = new(schedulerConfig, log);
    private readonly object _gate = new();

    /// <summary>Moves virtual time by <paramref name="offset"/> and runs (sends) everything due by then.</summary>
    public void Advance(TimeSpan offset)
    {
        lock (_gate) _inner.Advance(offset);
    }

    public DateTimeOffset Now
    {
        get
        {
            lock (_gate) return _inner.Now;
        }
    }

    public TimeSpan MonotonicClock => _inner.MonotonicClock;

    public TimeSpan HighResMonotonicClock => _inner.HighResMonotonicClock;

    public IAdvancedScheduler Advanced => this;

    public void ScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender)
    {
        lock (_gate) _inner.ScheduleTellOnce(delay, receiver, message, sender);
    }

    public void ScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable)
    {
        lock (_gate) _inner.ScheduleTellOnce(delay, receiver, message, sender, cancelable);
    }

    public void ScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender)
    {
        lock (_gate) _inner.ScheduleTellRepeatedly(initialDelay, interval, receiver, message, sender);
    }

    public void ScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable)
    {
        lock (_gate) _inner.ScheduleTellRepeatedly(initialDelay, interval, receiver, message, sender, cancelable);
    }

    public void ScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable)
    {
        lock (_gate) _inner.ScheduleOnce(delay, action, cancelable);
    }

    public void ScheduleOnce(TimeSpan delay, Action action)
    {
        lock (_gate) _inner.ScheduleOnce(delay, action);
    }

    public void ScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable)
    {
        lock (_gate) _inner.ScheduleRepeatedly(initialDelay, interval, action, cancelable);
    }

    public void ScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action)
    {
        lock (_gate) _inner.ScheduleRepeatedly(initialDelay, interval, action);
    }

    public void ScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable)
    {
        lock (_gate) _inner.ScheduleOnce(delay, action, cancelable);
    }

    public void ScheduleOnce(TimeSpan delay, IRunnable action)
    {
        lock (_gate) _inner.ScheduleOnce(delay, action);
    }

    public void ScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable)
    {
        lock (_gate) _inner.ScheduleRepeatedly(initialDelay, interval, action, cancelable);
    }

    public void ScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action)
    {
        lock (_gate) _inner.ScheduleRepeatedly(initialDelay, interval, action);
    }
}
