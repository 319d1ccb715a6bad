using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Jpki.JukiNet;

/// <summary>
/// The CA's client of Juki-Net (docs/design.md §5): resident lookup and the change feed, with a
/// timeout per attempt, bounded retries with doubling backoff on connection errors, timeouts and
/// 5xx, and typed failures (<see cref="JukiNetUnavailableException"/>,
/// <see cref="JukiNetProtocolException"/>).
/// </summary>
/// <remarks>
/// The lookup URL carries the resident code, so give this client an <see cref="HttpClient"/>
/// whose handlers do not log request URIs (IHttpClientFactory's default logging does: remove it
/// for this client). This class itself logs codes only in their redacted form. Its own timeout
/// is per attempt; leave <see cref="HttpClient.Timeout"/> longer than that.
/// </remarks>
public sealed class JukiNetClient
{
    private readonly HttpClient http;
    private readonly JukiNetClientOptions options;
    private readonly Uri baseAddress;
    private readonly ILogger logger;
    private readonly TimeProvider time;

    public JukiNetClient(HttpClient http, JukiNetClientOptions options, ILogger<JukiNetClient>? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxAttempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.AttemptTimeout, TimeSpan.Zero);
        this.http = http;
        this.options = options;
        // Relative URIs resolve against the last '/', so http://host/jukinet must become http://host/jukinet/.
        baseAddress = options.BaseAddress.AbsolutePath.EndsWith('/')
            ? options.BaseAddress
            : new Uri(options.BaseAddress.AbsoluteUri + "/");
        this.logger = logger ?? (ILogger)NullLogger.Instance;
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>The resident's current record, or <see cref="ResidentNotFound"/>.</summary>
    public async Task<ResidentLookupResult> LookupAsync(ResidentCode code, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(code);
        var operation = $"lookup of {code.Redacted}";
        var answer = await GetAsync(operation, $"api/v1/residents/{code.Digits}", cancellationToken);
        if (answer.Status == HttpStatusCode.NotFound)
        {
            // A 404 without the registry's problem type is a wrong base address, not an unknown resident.
            return ProblemType(answer) == JukiNetJson.ResidentNotFoundProblemType
                ? new ResidentNotFound(code)
                : throw new JukiNetProtocolException($"Juki-Net {operation}: 404 without a resident-not-found problem");
        }

        ExpectOk(operation, answer);
        RequireUtf8(operation, answer.Body);
        ResidentRecord? record;
        try
        {
            record = JsonSerializer.Deserialize<ResidentRecord>(answer.Body, JukiNetJson.Options);
        }
        catch (JsonException e)
        {
            throw new JukiNetProtocolException($"Juki-Net {operation}: malformed record ({e.Message})", e);
        }

        if (record is null)
        {
            throw new JukiNetProtocolException($"Juki-Net {operation}: the answer is null");
        }

        if (record.Check() is { } error)
        {
            throw new JukiNetProtocolException($"Juki-Net {operation}: inconsistent record ({error})");
        }

        if (record.ResidentCode != code)
        {
            throw new JukiNetProtocolException($"Juki-Net {operation}: the answer is for another resident");
        }

        return new ResidentFound(record);
    }

    /// <summary>
    /// Up to <paramref name="limit"/> events the feed sends for <paramref name="after"/>, as and in
    /// the order it sent them: normally those above <paramref name="after"/>, but late deliveries
    /// (sequence ≤ <paramref name="after"/>), repeats and shuffled batches are part of the contract
    /// (see <see cref="ChangePage"/>) and returned as they are, not refused. Entries that are not
    /// valid events come back in <see cref="ChangePage.Malformed"/>; an answer whose envelope is
    /// broken throws <see cref="JukiNetProtocolException"/>.
    /// </summary>
    public async Task<ChangePage> GetChangesAsync(long after, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(after);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, JukiNetClientOptions.MaxChangesPerRequest);
        var operation = $"changes after {after}";
        var answer = await GetAsync(
            operation,
            string.Create(CultureInfo.InvariantCulture, $"api/v1/changes?after={after}&limit={limit}"),
            cancellationToken);
        ExpectOk(operation, answer);
        var page = ReadChangePage(answer.Body, operation);
        if (page.Malformed.Count > 0)
        {
            logger.LogWarning("Juki-Net {Operation}: {Count} malformed event(s) in the batch", operation, page.Malformed.Count);
        }

        return page;
    }

    /// <summary>
    /// Reads a change-feed answer body (<c>{ changes: [...], last: n }</c>): the events that are
    /// valid, and the entries that are not in <see cref="ChangePage.Malformed"/>. Apart from the
    /// HTTP call so that the fuzz harness (tests/Jpki.Fuzz) drives the same code the client runs.
    /// </summary>
    /// <exception cref="JukiNetProtocolException">The envelope is broken (not JSON, not that object).</exception>
    public static ChangePage ReadChangePage(byte[] body, string operation)
    {
        ArgumentNullException.ThrowIfNull(body);
        RequireUtf8(operation, body);
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("changes", out var changes) || changes.ValueKind != JsonValueKind.Array
                || !root.TryGetProperty("last", out var lastElement) || lastElement.ValueKind != JsonValueKind.Number
                || !lastElement.TryGetInt64(out var last) || last < 0)
            {
                throw new JukiNetProtocolException($"Juki-Net {operation}: the answer is not {{ changes: [...], last: n }}");
            }

            var events = new List<ChangeEvent>();
            var malformed = new List<MalformedChange>();
            foreach (var entry in changes.EnumerateArray())
            {
                var (change, reason) = ReadChange(entry);
                if (change is not null)
                {
                    events.Add(change);
                }
                else
                {
                    malformed.Add(new MalformedChange(SequenceOf(entry), entry.GetRawText(), reason!));
                }
            }

            return new ChangePage(events, malformed, last);
        }
        catch (JsonException e)
        {
            throw new JukiNetProtocolException($"Juki-Net {operation}: the answer is not JSON ({e.Message})", e);
        }
    }

    /// <summary>
    /// JSON is UTF-8 (RFC 8259 §8.1). JsonDocument checks string contents only when they are read,
    /// and then throws InvalidOperationException, not JsonException (found by ./jpki fuzz
    /// jukinet-changes: a feed entry with an invalid byte in a string escaped the client as an
    /// untyped error); the whole answer is checked first instead, a broken envelope.
    /// </summary>
    private static void RequireUtf8(string operation, byte[] body)
    {
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            throw new JukiNetProtocolException($"Juki-Net {operation}: the answer is not UTF-8");
        }
    }

    private static (ChangeEvent? Change, string? Reason) ReadChange(JsonElement entry)
    {
        try
        {
            var change = entry.Deserialize<ChangeEvent>(JukiNetJson.Options);
            if (change is null)
            {
                return (null, "the event is null");
            }

            return change.Check() is { } error ? (null, error) : (change, null);
        }
        catch (JsonException e)
        {
            // The message names the JSON path and the rule, never the value.
            return (null, e.Message);
        }
    }

    private static long? SequenceOf(JsonElement entry) =>
        entry.ValueKind == JsonValueKind.Object
        && entry.TryGetProperty("sequence", out var sequence)
        && sequence.ValueKind == JsonValueKind.Number
        && sequence.TryGetInt64(out var value)
            ? value
            : null;

    private static void ExpectOk(string operation, Answer answer)
    {
        if (answer.Status != HttpStatusCode.OK)
        {
            throw new JukiNetProtocolException(
                $"Juki-Net {operation}: unexpected HTTP {(int)answer.Status} ({ProblemTitle(answer) ?? "no problem details"})");
        }

        if (answer.MediaType is not null && !answer.MediaType.EndsWith("json", StringComparison.OrdinalIgnoreCase))
        {
            throw new JukiNetProtocolException($"Juki-Net {operation}: the answer is {answer.MediaType}, not JSON");
        }
    }

    private static string? ProblemType(Answer answer) => ProblemMember(answer, "type");

    private static string? ProblemTitle(Answer answer) => ProblemMember(answer, "title");

    private static string? ProblemMember(Answer answer, string name)
    {
        try
        {
            using var document = JsonDocument.Parse(answer.Body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty(name, out var value)
                && value.ValueKind == JsonValueKind.String
                    ? value.GetString()
                    : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// GETs <paramref name="relativeUri"/> with retries. Returns the first answer that is neither
    /// a 5xx nor a 429; throws <see cref="JukiNetUnavailableException"/> when every attempt failed.
    /// </summary>
    private async Task<Answer> GetAsync(string operation, string relativeUri, CancellationToken cancellationToken)
    {
        var uri = new Uri(baseAddress, relativeUri);
        Exception? lastError = null;
        var lastReason = "no attempt made";
        for (var attempt = 1; attempt <= options.MaxAttempts; attempt++)
        {
            if (attempt > 1)
            {
                await Task.Delay(options.FirstRetryDelay * Math.Pow(2, attempt - 2), time, cancellationToken);
            }

            using var attemptTimeout = new CancellationTokenSource(options.AttemptTimeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, attemptTimeout.Token);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                request.Headers.Accept.ParseAdd("application/json");
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
                var status = (int)response.StatusCode;
                if (status >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    lastError = null;
                    lastReason = $"HTTP {status}";
                }
                else
                {
                    var body = await ReadBodyAsync(operation, response.Content, linked.Token);
                    return new Answer(response.StatusCode, response.Content.Headers.ContentType?.MediaType, body);
                }
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                lastError = e;
                lastReason = $"no answer within {options.AttemptTimeout.TotalMilliseconds:0} ms";
            }
            catch (HttpRequestException e)
            {
                lastError = e;
                lastReason = e.Message;
            }

            logger.LogWarning(
                "Juki-Net {Operation}: attempt {Attempt} of {MaxAttempts} failed: {Reason}",
                operation,
                attempt,
                options.MaxAttempts,
                lastReason);
        }

        throw new JukiNetUnavailableException(
            $"Juki-Net is unavailable: {operation} failed {options.MaxAttempts} time(s); last: {lastReason}",
            options.MaxAttempts,
            lastError);
    }

    private async Task<byte[]> ReadBodyAsync(string operation, HttpContent content, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > options.MaxResponseBytes)
        {
            throw new JukiNetProtocolException($"Juki-Net {operation}: the answer is larger than {options.MaxResponseBytes} bytes");
        }

        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > options.MaxResponseBytes)
            {
                throw new JukiNetProtocolException($"Juki-Net {operation}: the answer is larger than {options.MaxResponseBytes} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private sealed record Answer(HttpStatusCode Status, string? MediaType, byte[] Body);
}
