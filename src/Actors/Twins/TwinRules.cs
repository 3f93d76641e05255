using EdgeActors.Messages;

namespace EdgeActors.Actors.Twins;

/// <summary>
/// The rules of twins and commands, without Akka: validation (names, limits), the twin after an update (each side's
/// version +1 per update; a property set gets that side's new version and the update's time) and command states.
/// </summary>
public static class TwinRules
{
    /// <summary>Null when the update may be applied, else what is wrong with it (nothing is changed then).</summary>
    public static string? Validate(TwinValue[]? properties, TwinSettings settings, string side)
    {
        if (properties is null || properties.Length == 0) return $"{side} update has no properties";
        if (properties.Length > settings.MaxProperties)
            return $"{side} update has {properties.Length} properties; the limit is {settings.MaxProperties} (edgeactors.twins.max-properties)";
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < properties.Length; i++)
        {
            var p = properties[i];
            if (p is null) return $"{side} property #{i + 1} is missing";
            if (NameProblem(p.Name, settings) is { } problem) return $"{side} property #{i + 1}: {problem}";
            if (!seen.Add(p.Name)) return $"{side} property '{p.Name}' appears twice in one update";
            if (p.Value is null) return $"{side} property '{p.Name}' has no value (null)";
            if (p.Value.Length > settings.MaxValueLength)
                return $"{side} property '{p.Name}' has a value of {p.Value.Length} characters; the limit is {settings.MaxValueLength} (edgeactors.twins.max-value-length)";
        }
        return null;
    }

    /// <summary>Null when <paramref name="name"/> may name a property or command (non-empty, no control characters, within the limit).</summary>
    public static string? NameProblem(string? name, TwinSettings settings)
    {
        if (string.IsNullOrWhiteSpace(name)) return "name is empty";
        if (name.Length > settings.MaxNameLength)
            return $"name '{name[..Math.Min(32, name.Length)]}…' is {name.Length} characters long; the limit is {settings.MaxNameLength} (edgeactors.twins.max-name-length)";
        foreach (var c in name)
            if (char.IsControl(c))
                return $"name '{name}' contains a control character";
        return null;
    }

    /// <summary>
    /// The twin after an update of one side (<paramref name="desired"/>: the apps' side, else the device's reported side),
    /// or the reason it cannot be applied (the side would hold more than the property limit).
    /// </summary>
    public static (DeviceTwin? Twin, string? Error) Apply(DeviceTwin twin, TwinValue[] update, bool desired, long now, TwinSettings settings)
    {
        var side = desired ? "desired" : "reported";
        if (Validate(update, settings, side) is { } problem) return (null, problem);
        var version = (desired ? twin.DesiredVersion : twin.ReportedVersion) + 1;
        var properties = (desired ? twin.Desired : twin.Reported).ToList();
        foreach (var v in update)
        {
            var at = properties.FindIndex(p => p.Name == v.Name);
            if (v.Remove)
            {
                if (at >= 0) properties.RemoveAt(at);
                continue;
            }
            var property = new TwinProperty(v.Name, v.Value, version, now);
            if (at >= 0) properties[at] = property;
            else properties.Add(property);
        }
        if (properties.Count > settings.MaxProperties)
            return (null, $"the {side} side would hold {properties.Count} properties; the limit is {settings.MaxProperties} (edgeactors.twins.max-properties)");
        var result = desired
            ? twin with { Desired = properties.ToArray(), DesiredVersion = version }
            : twin with { Reported = properties.ToArray(), ReportedVersion = version };
        return (result, null);
    }

    /// <summary>Whether a command is finished (acknowledged, failed or expired: its state never changes again).</summary>
    public static bool IsFinished(CommandState state) => state is CommandState.Acknowledged or CommandState.Failed or CommandState.Expired;

    /// <summary>
    /// A new command (<paramref name="id"/>: the app's id or one assigned by the entity), or why it is refused. Its time
    /// to live is the request's (0: the default), at most <see cref="TwinSettings.MaxCommandTtl"/>.
    /// </summary>
    public static (CommandStatus? Command, string? Error) NewCommand(SendCommand send, string id, long now, TwinSettings settings)
    {
        if (NameProblem(send.Name, settings) is { } problem) return (null, "command " + problem);
        if (id.Length > settings.MaxNameLength) return (null, $"command id is {id.Length} characters long; the limit is {settings.MaxNameLength}");
        if ((send.Payload?.Length ?? 0) > settings.MaxValueLength)
            return (null, $"command payload is {send.Payload!.Length} characters; the limit is {settings.MaxValueLength} (edgeactors.twins.max-value-length)");
        if (send.TtlMs < 0) return (null, $"command time to live is negative ({send.TtlMs} ms)");
        var ttl = send.TtlMs == 0 ? (long)settings.DefaultCommandTtl.TotalMilliseconds : send.TtlMs;
        if (ttl > settings.MaxCommandTtl.TotalMilliseconds)
            return (null, $"command time to live {TimeSpan.FromMilliseconds(ttl)} is longer than the limit {settings.MaxCommandTtl} (edgeactors.twins.max-command-ttl)");
        return (new CommandStatus(send.DeviceId, id, send.Name, send.Payload ?? "", CommandState.Pending, now, now + ttl, now, ""), null);
    }

    /// <summary>
    /// A command after the device's acknowledgement, whether it changed (a resent acknowledgement of a finished command
    /// returns it unchanged), or why it is refused (an expired command).
    /// </summary>
    public static (CommandStatus Command, bool Changed, string? Error) Acknowledge(CommandStatus command, AcknowledgeCommand ack, long now, TwinSettings settings)
    {
        if ((ack.Result?.Length ?? 0) > settings.MaxValueLength)
            return (command, false, $"command result is {ack.Result!.Length} characters; the limit is {settings.MaxValueLength} (edgeactors.twins.max-value-length)");
        switch (command.State)
        {
            case CommandState.Expired:
                return (command, false, $"command '{command.CommandId}' expired (at {DateTimeOffset.FromUnixTimeMilliseconds(command.ExpiresAt):u}) before it was acknowledged");
            case CommandState.Acknowledged or CommandState.Failed:
                return (command, false, null); // a resend of the acknowledgement
            default:
                var state = ack.Success ? CommandState.Acknowledged : CommandState.Failed;
                return (command with { State = state, Result = ack.Result ?? "", UpdatedAt = now, Error = "" }, true, null);
        }
    }
}
