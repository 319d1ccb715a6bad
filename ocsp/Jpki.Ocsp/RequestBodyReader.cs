using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Jpki.Ocsp;

/// <summary>What reading a request body gave.</summary>
public enum BodyOutcome
{
    /// <summary>The whole body, within the limit.</summary>
    Read,

    /// <summary>More bytes than the limit (announced by Content-Length or found while reading a chunked body).</summary>
    TooLarge,

    /// <summary>The framing was broken (a bad chunk header, a body cut short).</summary>
    Unreadable,
}

/// <summary>A body as read: the bytes when <see cref="Outcome"/> is <see cref="BodyOutcome.Read"/>.</summary>
public sealed record BoundedBody(BodyOutcome Outcome, byte[]? Bytes);

/// <summary>
/// Reads a request body of at most <c>limit</c> bytes and never throws for a body that is too
/// large or badly framed: it returns the outcome, so the caller answers with its own status
/// (OCSP malformedRequest) instead of Kestrel's bare 413 and an unhandled exception in the log.
/// </summary>
public static class RequestBodyReader
{
    public static async Task<BoundedBody> ReadAsync(HttpContext context, int limit)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        if (context.Request.ContentLength is { } announced && announced > limit)
        {
            return new BoundedBody(BodyOutcome.TooLarge, null);
        }

        // Kestrel's own limit (ocsp.maxRequestBytes) throws once the chunked bytes it has parsed cross
        // it, which for one large chunk is on the first read (caught below). One byte more for this
        // request keeps a body of exactly the limit readable, and lets a body that grows past it in
        // small chunks be stopped by the loop below.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } kestrelLimit)
        {
            kestrelLimit.MaxRequestBodySize = limit + 1L;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(limit + 1);
        try
        {
            var total = 0;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer.AsMemory(total, limit + 1 - total), context.RequestAborted)) > 0)
            {
                total += read;
                if (total > limit)
                {
                    return new BoundedBody(BodyOutcome.TooLarge, null);
                }
            }

            return new BoundedBody(BodyOutcome.Read, buffer[..total]);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's limit (413) or broken chunked framing (400): an answer of our own either way.
            return new BoundedBody(e.StatusCode == StatusCodes.Status413PayloadTooLarge ? BodyOutcome.TooLarge : BodyOutcome.Unreadable, null);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
