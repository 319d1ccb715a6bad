using System.Diagnostics;
using Jpki.JukiNet.Simulator;
using Microsoft.AspNetCore.Http;

namespace Jpki.JukiNet.Tests;

public sealed class ClientFaultTests : IDisposable
{
    private static readonly ResidentCode Code = ResidentCode.Parse("12345678900");

    private readonly HttpClient http = new();

    public void Dispose() => http.Dispose();

    private JukiNetClient Client(Uri baseAddress, int maxAttempts = 3, int attemptTimeoutMs = 2000) =>
        new(http, new JukiNetClientOptions
        {
            BaseAddress = baseAddress,
            MaxAttempts = maxAttempts,
            AttemptTimeout = TimeSpan.FromMilliseconds(attemptTimeoutMs),
            FirstRetryDelay = TimeSpan.FromMilliseconds(20),
        });

    private static Func<HttpContext, int, Task> Answer(int status, string contentType, string body) => (context, _) =>
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        return context.Response.WriteAsync(body);
    };

    [Fact]
    public async Task A_stopped_simulator_is_unavailable_after_the_configured_attempts()
    {
        var directory = Directory.CreateTempSubdirectory("jukinet-stopped-");
        try
        {
            Uri address;
            var app = SimulatorApp.Build(new SimulatorSettings
            {
                DatabasePath = Path.Combine(directory.FullName, "sim.db"),
                Urls = "http://127.0.0.1:0",
                Residents = 5,
            });
            await using (app)
            {
                await app.StartAsync();
                address = SimulatorFixture.BoundAddress(app);
                Assert.IsType<ResidentNotFound>(await Client(address).LookupAsync(Code));
                await app.StopAsync();
            }

            var clock = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<JukiNetUnavailableException>(() => Client(address, maxAttempts: 3).LookupAsync(Code));
            Assert.Equal(3, error.Attempts);
            Assert.IsType<HttpRequestException>(error.InnerException);
            Assert.DoesNotContain(Code.Digits, error.Message, StringComparison.Ordinal);
            Assert.Contains(Code.Redacted, error.Message, StringComparison.Ordinal);
            // Bounded: three refused connections and two short backoffs, far from any timeout.
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30));

            await Assert.ThrowsAsync<JukiNetUnavailableException>(() => Client(address, maxAttempts: 1).GetChangesAsync(0, 10));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Server_errors_are_retried_exactly_max_attempts_times()
    {
        await using var server = await LoopbackServer.StartAsync(Answer(503, "application/problem+json", """{"status":503}"""));
        var error = await Assert.ThrowsAsync<JukiNetUnavailableException>(() => Client(server.BaseAddress, maxAttempts: 4).LookupAsync(Code));
        Assert.Equal(4, error.Attempts);
        Assert.Equal(4, server.Requests);
        Assert.Contains("HTTP 503", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retries_are_logged_with_the_code_redacted()
    {
        await using var server = await LoopbackServer.StartAsync(Answer(500, "text/plain", "boom"));
        var logger = new CapturingLogger<JukiNetClient>();
        var client = new JukiNetClient(
            http,
            new JukiNetClientOptions { BaseAddress = server.BaseAddress, FirstRetryDelay = TimeSpan.FromMilliseconds(5) },
            logger);
        await Assert.ThrowsAsync<JukiNetUnavailableException>(() => client.LookupAsync(Code));
        Assert.Equal(3, logger.Lines.Count);
        Assert.All(logger.Lines, line => Assert.Contains(Code.Redacted, line, StringComparison.Ordinal));
        Assert.All(logger.Lines, line => Assert.DoesNotContain(Code.Digits, line, StringComparison.Ordinal));
    }

    [Fact]
    public void Defaults_are_two_seconds_per_attempt_and_three_attempts()
    {
        var options = new JukiNetClientOptions { BaseAddress = new Uri("http://127.0.0.1:8084/") };
        Assert.Equal(TimeSpan.FromSeconds(2), options.AttemptTimeout);
        Assert.Equal(3, options.MaxAttempts);
    }

    [Fact]
    public async Task A_slow_server_times_out_per_attempt()
    {
        await using var server = await LoopbackServer.StartAsync(async (context, _) =>
            await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted));
        var error = await Assert.ThrowsAsync<JukiNetUnavailableException>(
            () => Client(server.BaseAddress, maxAttempts: 2, attemptTimeoutMs: 200).GetChangesAsync(0, 10));
        Assert.Equal(2, error.Attempts);
        Assert.Contains("no answer within 200 ms", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task A_transient_error_is_recovered_by_the_retry()
    {
        var record = new PopulationGenerator(1).Generate(1)[0];
        var json = System.Text.Json.JsonSerializer.Serialize(record, JukiNetJson.Options);
        await using var server = await LoopbackServer.StartAsync((context, request) => request == 1
            ? Answer(500, "text/plain", "boom")(context, request)
            : Answer(200, "application/json", json)(context, request));
        var found = Assert.IsType<ResidentFound>(await Client(server.BaseAddress).LookupAsync(record.ResidentCode));
        Assert.Equal(record.Name, found.Record.Name);
        Assert.Equal(2, server.Requests);
    }

    [Theory]
    [InlineData(200, "application/json", "this is not json")]
    [InlineData(200, "application/json", "{\"residentCode\":\"12345678900\"")]
    [InlineData(200, "application/json", "{\"residentCode\":\"12345678900\"}")] // required members missing
    [InlineData(200, "application/json", "null")]
    [InlineData(200, "text/html", "<html>hello</html>")]
    [InlineData(404, "text/html", "<html>not here</html>")] // a 404 that is not the registry's problem: wrong base address
    [InlineData(400, "application/problem+json", "{\"title\":\"malformed resident code\"}")]
    public async Task Garbage_lookup_answers_are_protocol_errors_without_retry(int status, string contentType, string body)
    {
        await using var server = await LoopbackServer.StartAsync(Answer(status, contentType, body));
        await Assert.ThrowsAsync<JukiNetProtocolException>(() => Client(server.BaseAddress).LookupAsync(Code));
        Assert.Equal(1, server.Requests);
    }

    [Fact]
    public async Task A_record_for_another_resident_or_with_wrong_flags_is_a_protocol_error()
    {
        var record = new PopulationGenerator(1).Generate(1)[0];
        var json = System.Text.Json.JsonSerializer.Serialize(record, JukiNetJson.Options);
        await using (var server = await LoopbackServer.StartAsync(Answer(200, "application/json", json)))
        {
            var error = await Assert.ThrowsAsync<JukiNetProtocolException>(() => Client(server.BaseAddress).LookupAsync(Code));
            Assert.Contains("another resident", error.Message, StringComparison.Ordinal);
        }

        var badFlags = System.Text.Json.JsonSerializer.Serialize(record with { NameSubstitutes = "0" }, JukiNetJson.Options);
        await using (var server = await LoopbackServer.StartAsync(Answer(200, "application/json", badFlags)))
        {
            var error = await Assert.ThrowsAsync<JukiNetProtocolException>(() => Client(server.BaseAddress).LookupAsync(record.ResidentCode));
            Assert.Contains("nameSubstitutes", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("[]")]
    [InlineData("{\"changes\":[]}")]
    [InlineData("{\"changes\":{},\"last\":3}")]
    [InlineData("{\"changes\":[],\"last\":\"3\"}")]
    [InlineData("{\"changes\":[],\"last\":-1}")]
    public async Task A_broken_feed_envelope_is_a_protocol_error(string body)
    {
        await using var server = await LoopbackServer.StartAsync(Answer(200, "application/json", body));
        await Assert.ThrowsAsync<JukiNetProtocolException>(() => Client(server.BaseAddress).GetChangesAsync(0, 10));
        Assert.Equal(1, server.Requests);
    }

    [Fact]
    public async Task Malformed_events_come_back_beside_the_good_ones()
    {
        const string feed = """
            {"changes":[
              {"sequence":1,"residentCode":"12345678900","type":"death","effectiveDate":"2026-11-01"},
              {"sequence":2,"residentCode":"12345678901","type":"death","effectiveDate":"2026-11-01"},
              {"sequence":3,"residentCode":"12345678900","type":"teleport","effectiveDate":"2026-11-01"},
              {"sequence":4,"residentCode":"12345678900","type":"nameChange","effectiveDate":"2026-11-01"},
              {"sequence":5,"residentCode":"12345678900","type":"death","effectiveDate":"2026-13-01"},
              {"residentCode":"12345678900","type":"death","effectiveDate":"2026-11-01"},
              "not an object",
              {"sequence":"7","residentCode":"12345678900","type":"death","effectiveDate":"2026-11-01"},
              {"sequence":8,"residentCode":"12345678900","type":"emigration","effectiveDate":"2026-11-02","continuedUse":true}
            ],"last":8}
            """;
        await using var server = await LoopbackServer.StartAsync(Answer(200, "application/json", feed));
        var page = await Client(server.BaseAddress).GetChangesAsync(0, 10);

        Assert.Equal(8, page.Last);
        Assert.Equal([1L, 8L], page.Changes.Select(c => c.Sequence));
        Assert.Equal([2L, 3L, 4L, 5L, null, null, null], page.Malformed.Select(m => m.Sequence));
        Assert.Contains("check digit", page.Malformed[0].Reason, StringComparison.Ordinal);
        Assert.Contains("needs name", page.Malformed[2].Reason, StringComparison.Ordinal);
        Assert.All(page.Malformed, m => Assert.DoesNotContain("12345678901", m.Reason, StringComparison.Ordinal));
        Assert.Equal(ChangeType.Emigration, page.Changes[1].Type);
        Assert.True(page.Changes[1].ContinuedUse);
    }

    [Fact]
    public async Task Caller_cancellation_is_not_turned_into_unavailable()
    {
        // The caller cancels once the request has arrived (a fixed 100 ms could pass before the
        // connection was even accepted on a loaded machine, and then nothing was sent at all).
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async (context, _) =>
        {
            arrived.TrySetResult();
            await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
        });
        using var cancel = new CancellationTokenSource();
        var lookup = Client(server.BaseAddress, attemptTimeoutMs: 10_000).LookupAsync(Code, cancel.Token);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => lookup);
        Assert.Equal(1, server.Requests);
    }

    [Fact]
    public async Task A_base_address_with_a_path_keeps_its_path()
    {
        var paths = new List<string>();
        await using var server = await LoopbackServer.StartAsync((context, request) =>
        {
            lock (paths)
            {
                paths.Add(context.Request.Path + context.Request.QueryString);
            }

            return Answer(200, "application/json", "{\"changes\":[],\"last\":0}")(context, request);
        });
        var withoutSlash = new Uri(server.BaseAddress, "jukinet");
        var page = await Client(withoutSlash).GetChangesAsync(5, 7);
        Assert.Empty(page.Changes);
        Assert.Equal(["/jukinet/api/v1/changes?after=5&limit=7"], paths);
    }

    [Fact]
    public async Task Arguments_are_checked_before_any_request()
    {
        var client = Client(new Uri("http://127.0.0.1:9/"));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetChangesAsync(-1, 10));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetChangesAsync(0, 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetChangesAsync(0, 1001));
        Assert.Throws<ArgumentOutOfRangeException>(() => new JukiNetClient(http, new JukiNetClientOptions { BaseAddress = new Uri("http://x/"), MaxAttempts = 0 }));
    }
}
