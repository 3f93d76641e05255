namespace EdgeActors.Mqtt;

/// <summary>
/// What the broker remembers of its persistent sessions beyond MQTTnet (plain, no Akka, thread-safe): how long each
/// session may outlive its connection (MQTT 5's Session Expiry Interval capped by <c>edgeactors.mqtt.session-expiry</c>;
/// MQTT 3.1.1 persistent sessions get the cap), since when its client has been away, and the subscriptions it holds,
/// so that a reconnect with a narrower token can be checked against them. MQTTnet 5.2 keeps a session with a non-zero
/// expiry until it is deleted (it deletes only those with expiry 0, at disconnect): the broker's sweep deletes those
/// <see cref="Expired"/> names.
/// </summary>
public sealed class MqttSessionBook
{
    private sealed class Entry
    {
        public int Connections;
        public TimeSpan Expiry;
        public DateTimeOffset? AwaySince;
        public readonly HashSet<string> Filters = new(StringComparer.Ordinal);
    }

    private readonly Dictionary<string, Entry> _sessions = new(StringComparer.Ordinal);
    private readonly TimeSpan _max;

    public MqttSessionBook(TimeSpan maxExpiry)
    {
        if (maxExpiry <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(maxExpiry), maxExpiry, "must be positive");
        _max = maxExpiry;
    }

    /// <summary>
    /// How long a session may outlive its connection: MQTT 5 asks (seconds; 0 = ends with the connection, 0xFFFFFFFF =
    /// never) and gets at most <paramref name="max"/>; MQTT 3.1.1 cannot ask, so a persistent (clean session off) one gets
    /// <paramref name="max"/> and a clean one none.
    /// </summary>
    public static TimeSpan Expiry(bool mqtt5, bool cleanStart, uint requestedSeconds, TimeSpan max)
    {
        if (!mqtt5) return cleanStart ? TimeSpan.Zero : max;
        var asked = TimeSpan.FromSeconds(requestedSeconds);
        return asked < max ? asked : max;
    }

    /// <summary>A connection of the client was accepted with this expiry (a clean start forgets the old subscriptions).</summary>
    public void Connected(string clientId, TimeSpan expiry, bool cleanStart)
    {
        lock (_sessions)
        {
            if (!_sessions.TryGetValue(clientId, out var e)) _sessions[clientId] = e = new Entry();
            if (cleanStart) e.Filters.Clear();
            e.Connections++;
            e.Expiry = expiry;
            e.AwaySince = null;
        }
    }

    /// <summary>
    /// A connection of the client ended at <paramref name="now"/>; an MQTT 5 DISCONNECT may set a new expiry
    /// (<paramref name="disconnectExpirySeconds"/> &gt; 0, capped like the CONNECT's).
    /// </summary>
    public void Disconnected(string clientId, DateTimeOffset now, uint disconnectExpirySeconds = 0)
    {
        lock (_sessions)
        {
            if (!_sessions.TryGetValue(clientId, out var e)) return;
            if (disconnectExpirySeconds > 0) e.Expiry = Expiry(mqtt5: true, cleanStart: false, disconnectExpirySeconds, _max);
            e.Connections = Math.Max(0, e.Connections - 1);
            if (e.Connections == 0) e.AwaySince = now;
        }
    }

    public void Subscribed(string clientId, string filter)
    {
        lock (_sessions)
        {
            if (!_sessions.TryGetValue(clientId, out var e)) _sessions[clientId] = e = new Entry { Connections = 1, Expiry = _max };
            e.Filters.Add(filter);
        }
    }

    public void Unsubscribed(string clientId, string filter)
    {
        lock (_sessions)
            if (_sessions.TryGetValue(clientId, out var e)) e.Filters.Remove(filter);
    }

    /// <summary>The client's subscriptions as the broker accepted them.</summary>
    public IReadOnlyList<string> Subscriptions(string clientId)
    {
        lock (_sessions)
            return _sessions.TryGetValue(clientId, out var e) ? e.Filters.Order(StringComparer.Ordinal).ToList() : [];
    }

    /// <summary>
    /// The subscriptions the client's current rights refuse (<paramref name="check"/>: null = allowed, else why not),
    /// removed from the book and returned with the reason.
    /// </summary>
    public IReadOnlyList<(string Filter, string Why)> Refused(string clientId, Func<string, string?> check)
    {
        lock (_sessions)
        {
            if (!_sessions.TryGetValue(clientId, out var e)) return [];
            var refused = new List<(string, string)>();
            foreach (var f in e.Filters.Order(StringComparer.Ordinal))
                if (check(f) is { } why) refused.Add((f, why));
            foreach (var (f, _) in refused) e.Filters.Remove(f);
            return refused;
        }
    }

    /// <summary>Whether the client has no connection now (a session the sweep may delete).</summary>
    public bool IsAway(string clientId)
    {
        lock (_sessions)
            return _sessions.TryGetValue(clientId, out var e) && e.Connections == 0;
    }

    /// <summary>How long the client's session outlives its connection (null: not known).</summary>
    public TimeSpan? ExpiryOf(string clientId)
    {
        lock (_sessions)
            return _sessions.TryGetValue(clientId, out var e) ? e.Expiry : null;
    }

    /// <summary>
    /// The sessions whose clients have been away longer than their expiry at <paramref name="now"/>: removed from the
    /// book and returned with how long they were kept (the caller deletes them from the server).
    /// </summary>
    public IReadOnlyList<(string ClientId, TimeSpan Expiry)> Expired(DateTimeOffset now)
    {
        lock (_sessions)
        {
            var due = _sessions.Where(kv => kv.Value.AwaySince is { } away && now - away >= kv.Value.Expiry)
                .Select(kv => (kv.Key, kv.Value.Expiry)).ToList();
            foreach (var (id, _) in due) _sessions.Remove(id);
            return due;
        }
    }

    /// <summary>The server deleted the session (expiry 0, clean start, or the sweep): nothing of it is kept.</summary>
    public void Forget(string clientId)
    {
        lock (_sessions) _sessions.Remove(clientId);
    }

    public int Count
    {
        get { lock (_sessions) return _sessions.Count; }
    }
}
