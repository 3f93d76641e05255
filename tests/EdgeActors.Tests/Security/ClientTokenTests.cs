using EdgeActors.Actors.Security;
using EdgeActors.Client.Security;
using EdgeActors.Messages;

namespace EdgeActors.Tests.Security;

public sealed class ClientTokenTests
{
    private static readonly byte[] Key = Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray();
    private static readonly DateTimeOffset Now = new(2026, 11, 27, 3, 0, 0, TimeSpan.Zero);

    private static string Token(string[] scopes, string prefix = "", TimeSpan? life = null) =>
        ClientTokens.Issue(Key, new ClientClaims("app-1", scopes, prefix, Now + (life ?? TimeSpan.FromDays(1))));

    private static TelemetryBatch Batch(string id) => new(new DeviceId(id), 1, [1], [1000], [1f]);

    [Fact]
    public void A_signed_token_should_verify_with_its_claims()
    {
        var check = ClientTokens.Verify(Key, Token([ClientTokens.Ingest, ClientTokens.Query], "sensor-"), Now);

        Assert.True(check.Ok, check.Error);
        Assert.Equal("app-1", check.Claims!.ClientId);
        Assert.Equal([ClientTokens.Ingest, ClientTokens.Query], check.Claims.Scopes);
        Assert.Equal("sensor-", check.Claims.DevicePrefix);
        Assert.Equal(Now + TimeSpan.FromDays(1), check.Claims.ExpiresAt);
    }

    [Fact]
    public void A_tampered_token_should_be_refused_as_an_invalid_signature()
    {
        var token = Token([ClientTokens.Query]);
        var parts = token.Split('.');
        // grant itself ingest too: same signature, other claims
        var forgedClaims = Convert.ToBase64String("app-1|query,ingest,admin||1924992000"u8.ToArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        var check = ClientTokens.Verify(Key, $"{parts[0]}.{forgedClaims}.{parts[2]}", Now);

        Assert.False(check.Ok);
        Assert.Contains("signature is invalid", check.Error);
    }

    [Fact]
    public void A_token_signed_with_another_key_should_be_refused()
    {
        var other = ClientTokens.Issue(ClientTokens.NewKey(), new ClientClaims("app-1", [ClientTokens.Ingest], "", Now.AddDays(1)));

        Assert.Contains("signature is invalid", ClientTokens.Verify(Key, other, Now).Error);
    }

    [Fact]
    public void An_expired_token_should_be_refused_naming_the_expiry()
    {
        var token = Token([ClientTokens.Ingest], life: TimeSpan.FromMinutes(1));

        var check = ClientTokens.Verify(Key, token, Now.AddMinutes(2));

        Assert.False(check.Ok);
        Assert.Contains("expired at 2026-11-27 03:01:00Z", check.Error);
    }

    [Theory]
    [InlineData(null, "no client token")]
    [InlineData("", "no client token")]
    [InlineData("garbage", "malformed")]
    [InlineData("ea1.!!!.???", "malformed")]
    [InlineData("ea2.YQ.YQ", "malformed")]
    public void A_missing_or_malformed_token_should_be_refused_clearly(string? token, string expected)
    {
        var check = ClientTokens.Verify(Key, token, Now);

        Assert.False(check.Ok);
        Assert.StartsWith("unauthenticated: ", check.Error);
        Assert.Contains(expected, check.Error);
    }

    [Fact]
    public void A_token_over_the_length_limit_should_be_refused_without_parsing()
    {
        Assert.Contains("the limit is", ClientTokens.Verify(Key, new string('a', ClientTokens.MaxTokenLength + 1), Now).Error);
    }

    [Fact]
    public void A_request_outside_the_tokens_scopes_should_be_refused_naming_the_scope()
    {
        var claims = ClientTokens.Verify(Key, Token([ClientTokens.Query]), Now).Claims!;

        Assert.Null(ClientTokens.Authorize(claims, new GetDeviceState(new DeviceId("sensor-1"))));
        var error = ClientTokens.Authorize(claims, Batch("sensor-1"));
        Assert.Contains("needs scope 'ingest'", error);
        Assert.Contains("[query]", error);
        Assert.Contains("needs scope 'admin'", ClientTokens.Authorize(claims, new RollbackModel("m")));
        Assert.Contains("needs scope 'infer'", ClientTokens.Authorize(claims, new Infer("m", 1, 1, [1f], default)));
        Assert.Contains("needs scope 'federate'", ClientTokens.Authorize(claims, new StartKMeans("k", 3, 5, 3, 1)));
    }

    [Fact]
    public void Twin_requests_should_need_ingest_for_devices_query_to_read_and_admin_to_change()
    {
        var device = new ClientClaims("sensor-app", [ClientTokens.Ingest], "site-a/", DateTimeOffset.UtcNow.AddHours(1));
        var id = new DeviceId("site-a/s1");

        Assert.Null(ClientTokens.Authorize(device, new ReportTwin(id, [new TwinValue("rate", "5")])));
        Assert.Null(ClientTokens.Authorize(device, new AcknowledgeCommand(id, "c1", true, "")));
        Assert.Contains("needs scope 'query'", ClientTokens.Authorize(device, new GetTwin(id)));
        Assert.Contains("needs scope 'query'", ClientTokens.Authorize(device, new GetCommands(id)));
        Assert.Contains("needs scope 'admin'", ClientTokens.Authorize(device, new SetDesired(id, [])));
        Assert.Contains("needs scope 'admin'", ClientTokens.Authorize(device, new SendCommand(id, "", "reboot", "", 0)));
        Assert.Contains("covers devices starting with 'site-a/'",
            ClientTokens.Authorize(device, new ReportTwin(new DeviceId("site-b/s1"), [new TwinValue("rate", "5")])));
    }

    [Fact]
    public void A_device_prefix_should_limit_which_devices_the_token_reaches()
    {
        var claims = ClientTokens.Verify(Key, Token([ClientTokens.Ingest], "plant-a/"), Now).Claims!;

        Assert.Null(ClientTokens.Authorize(claims, Batch("plant-a/sensor-1")));
        Assert.Contains("devices starting with 'plant-a/'", ClientTokens.Authorize(claims, Batch("plant-b/sensor-1")));
    }

    [Fact]
    public void Issuing_should_refuse_unknown_scopes_and_bad_client_ids()
    {
        Assert.Throws<ArgumentException>(() => Token(["write-everything"]));
        Assert.Throws<ArgumentException>(() => ClientTokens.Issue(Key, new ClientClaims("a|b", [ClientTokens.Ingest], "", Now)));
    }
}
