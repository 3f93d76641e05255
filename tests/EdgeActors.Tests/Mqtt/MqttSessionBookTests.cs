using Akka.Configuration;
using EdgeActors.Client.Security;
using EdgeActors.Mqtt;

namespace EdgeActors.Tests.Mqtt;

public sealed class MqttSessionBookTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Max = TimeSpan.FromHours(24);

    [Theory]
    [InlineData(true, false, 30u, 30)]             // MQTT 5 asks for 30 s
    [InlineData(true, true, 30u, 30)]              // clean start does not change MQTT 5's expiry
    [InlineData(true, false, 0u, 0)]               // 0: the session ends with the connection
    [InlineData(true, false, uint.MaxValue, 86400)] // "never" is capped at the configured maximum
    [InlineData(true, false, 100_000u, 86400)]     // so is anything longer
    [InlineData(false, false, 0u, 86400)]          // MQTT 3.1.1 persistent: the configured maximum
    [InlineData(false, true, 0u, 0)]               // MQTT 3.1.1 clean session: none
    public void Expiry_should_be_what_MQTT_5_asks_capped_and_the_cap_for_persistent_MQTT_311(bool mqtt5, bool clean, uint asked, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), MqttSessionBook.Expiry(mqtt5, clean, asked, Max));
    }

    [Fact]
    public void A_session_should_expire_only_after_its_client_was_away_longer_than_its_expiry()
    {
        var book = new MqttSessionBook(Max);
        book.Connected("c", TimeSpan.FromSeconds(5), cleanStart: false);
        Assert.Empty(book.Expired(T0.AddHours(1))); // connected: never expires
        book.Disconnected("c", T0);
        Assert.Empty(book.Expired(T0.AddSeconds(4)));
        book.Connected("c", TimeSpan.FromSeconds(5), cleanStart: false); // back within its expiry
        book.Disconnected("c", T0.AddSeconds(10));
        Assert.Empty(book.Expired(T0.AddSeconds(14)));
        Assert.Equal([("c", TimeSpan.FromSeconds(5))], book.Expired(T0.AddSeconds(15)));
        Assert.Empty(book.Expired(T0.AddSeconds(16))); // reported once
        Assert.Equal(0, book.Count);
    }

    [Fact]
    public void A_takeover_should_keep_the_session_connected_and_a_DISCONNECT_expiry_should_replace_the_CONNECTs()
    {
        var book = new MqttSessionBook(Max);
        book.Connected("c", TimeSpan.FromSeconds(5), cleanStart: false);
        book.Connected("c", TimeSpan.FromSeconds(5), cleanStart: false); // the same client again before the old connection is gone
        book.Disconnected("c", T0);
        Assert.False(book.IsAway("c"));
        Assert.Empty(book.Expired(T0.AddHours(1)));
        book.Disconnected("c", T0, disconnectExpirySeconds: 60);
        Assert.True(book.IsAway("c"));
        Assert.Empty(book.Expired(T0.AddSeconds(59)));
        Assert.Single(book.Expired(T0.AddSeconds(60)));
    }

    [Fact]
    public void Subscriptions_refused_by_the_new_rights_should_be_removed_and_named_and_a_clean_start_should_forget_them_all()
    {
        var book = new MqttSessionBook(Max);
        book.Connected("c", Max, cleanStart: false);
        book.Subscribed("c", "edgeactors/devices/edge1/s1/commands");
        book.Subscribed("c", "edgeactors/devices/edge1/s2/commands");
        book.Subscribed("c", "edgeactors/devices/edge1/s3/ack");
        book.Unsubscribed("c", "edgeactors/devices/edge1/s3/ack");
        // the new token covers edge1/s1 only
        var claims = new ClientClaims("c", [ClientTokens.Ingest], "edge1/s1", T0.AddHours(1));
        var refused = book.Refused("c", f => MqttAccess.CanSubscribe(claims, f, 128));
        var (filter, why) = Assert.Single(refused);
        Assert.Equal("edgeactors/devices/edge1/s2/commands", filter);
        Assert.Contains("not authorised for device 'edge1/s2'", why);
        Assert.Equal(["edgeactors/devices/edge1/s1/commands"], book.Subscriptions("c"));
        book.Connected("c", Max, cleanStart: true);
        Assert.Empty(book.Subscriptions("c"));
    }

    [Fact]
    public void A_session_the_server_deleted_should_be_forgotten()
    {
        var book = new MqttSessionBook(Max);
        book.Connected("c", TimeSpan.FromSeconds(1), cleanStart: false);
        book.Subscribed("c", "x/y");
        book.Disconnected("c", T0);
        book.Forget("c");
        Assert.Empty(book.Subscriptions("c"));
        Assert.Empty(book.Expired(T0.AddHours(1)));
    }

    [Theory]
    [InlineData("0s")]
    [InlineData("-1s")]
    [InlineData("200000d")]
    public void A_session_expiry_out_of_range_should_be_refused_naming_the_key(string value)
    {
        var ex = Assert.Throws<ArgumentException>(() => MqttSettings.FromConfig(ConfigurationFactory.ParseString($"session-expiry = {value}")));
        Assert.Contains("edgeactors.mqtt.session-expiry", ex.Message);
    }

    [Fact]
    public void The_session_expiry_should_default_to_a_day_and_be_read_from_config()
    {
        Assert.Equal(TimeSpan.FromHours(24), MqttSettings.Default.SessionExpiry);
        Assert.Equal(TimeSpan.FromMinutes(5), MqttSettings.FromConfig(ConfigurationFactory.ParseString("session-expiry = 5m")).SessionExpiry);
    }
}
