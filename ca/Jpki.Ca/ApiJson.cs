using System.Text.Json;
using System.Text.Json.Serialization;

namespace Jpki.Ca;

/// <summary>The CA API's JSON: camelCase, no nulls written, unknown members refused (a typo must not pass silently).</summary>
public static class ApiJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// Reads the whole body (Kestrel caps it at <see cref="CaOptions.MaxRequestBodyBytes"/>) and
    /// parses it as <typeparamref name="T"/>; the raw bytes come back too (idempotency hashes them).
    /// </summary>
    public static async Task<(T? Body, byte[] Raw, IResult? Problem)> ReadAsync<T>(HttpRequest request)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.HasJsonContentType())
        {
            return (null, [], ProblemTypes.Problem(StatusCodes.Status415UnsupportedMediaType, ProblemTypes.UnsupportedMediaType, "unsupported media type", "the body must be application/json"));
        }

        byte[] raw;
        try
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted);
            raw = buffer.ToArray();
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, [], ProblemTypes.Problem(StatusCodes.Status413PayloadTooLarge, ProblemTypes.BodyTooLarge, "body too large", $"the body must be at most {CaOptions.MaxRequestBodyBytes} bytes"));
        }

        try
        {
            var body = JsonSerializer.Deserialize<T>(raw, Options);
            return body is null
                ? (null, raw, ProblemTypes.Problem(StatusCodes.Status400BadRequest, ProblemTypes.InvalidRequest, "malformed body", "the body must be a JSON object"))
                : (body, raw, null);
        }
        catch (JsonException e)
        {
            // The message names the JSON path and position, never the values.
            return (null, raw, ProblemTypes.Problem(StatusCodes.Status400BadRequest, ProblemTypes.InvalidRequest, "malformed body", e.Message));
        }
    }
}
