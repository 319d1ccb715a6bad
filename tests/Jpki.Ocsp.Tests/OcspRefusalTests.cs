using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// Issue 16, finding 6: refusals stay OCSP answers, are decided before the body is read, write
/// nothing to the store (a counter and a rate-limited log line instead), and an oversized chunked
/// body is a malformedRequest rather than an unhandled exception. Each test sends from a loopback
/// address of its own (127.0.0.x), so the per-address log windows of one test do not hide another's.
/// </summary>
[Collection(OcspTestGroup.Name)]
public sealed class OcspRefusalTests(OcspFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_chunked_body_over_the_limit_from_a_verifier_is_malformedRequest_logged_once_as_a_warning()
    {
        using var http = ClientFrom("127.0.0.21");
        var logStart = LogLength();
        var (response, body) = await PostChunkedAsync(http, new byte[fixture.Settings.Ocsp.MaxRequestBytes * 3], fixture.Tokens[OcspFixture.Verifier]);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/ocsp-response", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(OcspRespStatus.MalformedRequest, OcspTestClient.Status(body));
        var log = await LogSinceAsync(logStart, "request body over");
        var lines = log.Split('\n').Where(l => l.Contains("127.0.0.21", StringComparison.Ordinal)).ToList();
        Assert.Single(lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("request body over", StringComparison.Ordinal));
        Assert.DoesNotContain("Error", log, StringComparison.Ordinal);
        Assert.DoesNotContain("BadHttpRequestException", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_request_is_answered_unauthorized_before_its_body_is_read_even_when_chunked_and_oversized()
    {
        using var http = ClientFrom("127.0.0.22");
        var logStart = LogLength();
        foreach (var token in new[] { null, "not-a-token" })
        {
            var (response, body) = await PostChunkedAsync(http, new byte[fixture.Settings.Ocsp.MaxRequestBytes * 3], token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(OcspRespStatus.Unauthorized, OcspTestClient.Status(body));
            Assert.Equal("no-cache", response.Headers.CacheControl?.ToString());
        }

        var log = await LogSinceAsync(logStart, "127.0.0.22");
        Assert.DoesNotContain("Error", log, StringComparison.Ordinal);
        Assert.DoesNotContain("request body over", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refused_requests_write_no_row_are_counted_in_healthz_and_logged_once_per_address_without_the_token()
    {
        using var http = ClientFrom("127.0.0.23");
        var (serial, _) = fixture.Issue(fixture.SigningKeyId);
        var request = OcspTestClient.Request(IssuerCertificate(), new BigInteger(serial, 16));
        var rowsBefore = fixture.Count("SELECT COUNT(*) FROM ocsp_queries");
        var refusedBefore = await RefusedQueriesAsync(http);
        var logStart = LogLength();
        var operatorToken = fixture.Tokens[OcspFixture.Operator];
        const string wrongToken = "wrong-token-0123456789abcdef";
        for (var i = 0; i < 10; i++)
        {
            foreach (var token in new[] { null, wrongToken, operatorToken })
            {
                var (_, refused) = await OcspTestClient.PostAsync(http, fixture.Address, request, token);
                Assert.Equal(OcspRespStatus.Unauthorized, OcspTestClient.Status(refused));
            }

            var (_, viaGet) = await OcspTestClient.GetAsync(http, fixture.Address, Uri.EscapeDataString(Convert.ToBase64String(request)), wrongToken);
            Assert.Equal(OcspRespStatus.Unauthorized, OcspTestClient.Status(viaGet));
        }

        // One granted query after the 40 refusals: once its row is in the store, anything queued before it is too.
        var (_, granted) = await OcspTestClient.PostAsync(http, fixture.Address, request, fixture.Tokens[OcspFixture.Verifier]);
        Assert.Equal(OcspRespStatus.Successful, OcspTestClient.Status(granted));
        var until = DateTime.UtcNow + Deadline;
        while (fixture.Count("SELECT COUNT(*) FROM ocsp_queries WHERE serial = @serial", new { serial }) == 0 && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }

        Assert.Equal(rowsBefore + 1, fixture.Count("SELECT COUNT(*) FROM ocsp_queries"));
        Assert.Equal(1, fixture.Count("SELECT COUNT(*) FROM ocsp_queries WHERE serial = @serial", new { serial }));
        Assert.Equal(refusedBefore + 40, await RefusedQueriesAsync(http));

        var lines = (await LogSinceAsync(logStart, "127.0.0.23")).Split('\n').Where(l => l.Contains("127.0.0.23", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(lines);
        Assert.StartsWith("Warning", line, StringComparison.Ordinal);
        Assert.Contains("refused", line, StringComparison.Ordinal);
        Assert.Contains("ocsp", line, StringComparison.Ordinal);
        Assert.Contains("/ocsp", line, StringComparison.Ordinal);
        Assert.Contains("no credential", line, StringComparison.Ordinal);
        Assert.DoesNotContain(wrongToken, line, StringComparison.Ordinal);
        Assert.DoesNotContain(operatorToken, line, StringComparison.Ordinal);
    }

    private X509Certificate IssuerCertificate() =>
        new X509CertificateParser().ReadCertificate(File.ReadAllBytes(fixture.RootPemPath(fixture.SigningKeyId)));

    private async Task<long> RefusedQueriesAsync(HttpClient http)
    {
        using var response = await http.GetAsync(new Uri(fixture.Address, "healthz"));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(json.RootElement.TryGetProperty("refusedQueries", out var refused), json.RootElement.ToString());
        return refused.GetInt64();
    }

    private async Task<(HttpResponseMessage Response, byte[] Body)> PostChunkedAsync(HttpClient http, byte[] body, string? token)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(fixture.Address, "ocsp"));
        message.Headers.TransferEncodingChunked = true;
        // Expect: 100-continue, as a careful client sends a large body: the responder answers
        // without asking for the body, and the client reads that answer instead of racing the
        // server's close with a broken pipe while it is still writing.
        message.Headers.ExpectContinue = true;
        message.Content = new StreamContent(new MemoryStream(body));
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
        if (token is not null)
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        var response = await http.SendAsync(message);
        return (response, await response.Content.ReadAsByteArrayAsync());
    }

    private long LogLength() => File.Exists(fixture.LogPath) ? new FileInfo(fixture.LogPath).Length : 0;

    /// <summary>The responder's log written since <paramref name="start"/>, once it mentions <paramref name="expected"/> (or after 2 s).</summary>
    private async Task<string> LogSinceAsync(long start, string expected)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (true)
        {
            var text = "";
            if (File.Exists(fixture.LogPath))
            {
                using var stream = new FileStream(fixture.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                stream.Seek(start, SeekOrigin.Begin);
                text = await new StreamReader(stream).ReadToEndAsync();
            }

            if (text.Contains(expected, StringComparison.Ordinal) || DateTime.UtcNow > until)
            {
                return text;
            }

            await Task.Delay(100);
        }
    }

    /// <summary>An HTTP client whose connections come from <paramref name="sourceAddress"/> (any 127.0.0.0/8 address is local).</summary>
    private static HttpClient ClientFrom(string sourceAddress) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(IPAddress.Parse(sourceAddress), 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    });
}
